// stand-in for jitsi-meet-web's interface_config.js (images/s6-real)
var interfaceConfig = {};
