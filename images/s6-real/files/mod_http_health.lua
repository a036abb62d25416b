-- Our stand-in for jitsi-meet-prosody's mod_http_health (not packaged by Debian): GET /health
-- answers 200 once prosody's HTTP server runs. docker-jitsi-meet's register-setup waits for it.
module:depends("http");
module:provides("http", {
	default_path = "/";
	route = {
		["GET health"] = function() return 200; end;
	};
});
