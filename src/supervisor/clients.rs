//! Control requests in the loop: the requests read this turn are answered, in order. Two
//! need the loop's own resources (`reload` reads the configuration again, `logs -f` hands
//! the connection to the followers); every other one is `requests::answer` on `Core`.

use super::{Supervisor, follow, requests};
use crate::control;
use std::time::Instant;

impl Supervisor {
    /// Answer what the control clients sent this turn, then let the server drop the
    /// connections that are done.
    pub(super) fn serve_clients(&mut self, client_events: Vec<(usize, i16)>, now: Instant) {
        if !client_events.is_empty()
            && let Some(mut ctl) = self.control.take()
        {
            let requests = ctl.handle_io(&client_events);
            for (client, request) in requests {
                let words = &request.words;
                if words.len() == 1 && words[0] == "reload" {
                    let reply = self.reload_config(now);
                    ctl.reply(client, reply);
                } else if words.first().is_some_and(|w| w == "logs")
                    && words.iter().any(|w| w == "-f")
                {
                    match requests::logs_request(words) {
                        Ok(q) => self.start_follower(&mut ctl, client, q),
                        Err(reply) => ctl.reply(client, reply),
                    }
                } else {
                    let reply = requests::answer(&mut self.core, &request, now);
                    ctl.reply(client, reply);
                }
            }
            ctl.gc();
            self.control = Some(ctl);
        }
    }

    /// `logs -f`: the connection leaves the control server for the followers, which send
    /// the recent lines first (after the reply header a client reads as for any request).
    /// (With as many followers as allowed, the oldest makes room: `Followers::add`.)
    fn start_follower(
        &mut self,
        ctl: &mut control::Server,
        client: usize,
        q: requests::LogsRequest,
    ) {
        if let Some(stream) = ctl.take(client) {
            let first = format!(
                "0\nnull\n{}",
                requests::recent_lines(&q, follow::QUEUE_LIMIT / 2)
            );
            self.followers.add(stream, q.wanted, first, Instant::now());
        }
    }
}
