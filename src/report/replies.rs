//! What recipients wrote in answer to a campaign, as `status`, `--json` and the reports show
//! it: counted by what it was read as, and the opt-outs and possible opt-outs one by one.

use std::collections::HashMap;
use std::fmt::Write;

use serde::Serialize;

use super::html::esc;
use crate::queue::{Heard, Reply};

/// What recipients wrote in answer to a campaign, counted by what it was read as, and the
/// opt-outs and possible opt-outs one by one (who, what, when).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Replies {
    pub opt_outs: usize,
    pub possible_opt_outs: usize,
    pub opt_ins: usize,
    pub help: usize,
    pub other: usize,
    /// The opt-outs and possible opt-outs, oldest first.
    pub listed: Vec<Reply>,
    /// The opt-outs' confirmations (`campaign opt-out confirm`), by state.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub confirmations: Vec<(String, i64)>,
}

impl Replies {
    pub fn of(replies: Vec<Reply>) -> Self {
        let mut r = Replies::default();
        for reply in replies {
            match reply.verdict {
                Heard::OptOut => r.opt_outs += 1,
                Heard::PossibleOptOut => r.possible_opt_outs += 1,
                Heard::OptIn => r.opt_ins += 1,
                Heard::Help => r.help += 1,
                Heard::Other => r.other += 1,
            }
            if matches!(reply.verdict, Heard::OptOut | Heard::PossibleOptOut) {
                r.listed.push(reply);
            }
        }
        r
    }

    /// `2 sent, 1 expired`: the confirmations, if any.
    pub fn confirmed(&self) -> Option<String> {
        (!self.confirmations.is_empty()).then(|| {
            self.confirmations
                .iter()
                .map(|(state, n)| format!("{n} {state}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// `1 opt-out, 2 possible opt-outs, 0 opt-ins, 0 help, 3 other`.
    pub fn describe(&self) -> String {
        let n = |n: usize, what: &str| match n {
            1 => format!("1 {what}"),
            n => format!("{n} {what}s"),
        };
        format!(
            "{}, {}, {}, {} help, {} other",
            n(self.opt_outs, "opt-out"),
            n(self.possible_opt_outs, "possible opt-out"),
            n(self.opt_ins, "opt-in"),
            self.help,
            self.other
        )
    }

    pub fn total(&self) -> usize {
        self.opt_outs + self.possible_opt_outs + self.opt_ins + self.help + self.other
    }

    /// Each recipient's last opt-out or possible opt-out.
    pub fn by_recipient(&self) -> HashMap<&str, &Reply> {
        self.listed
            .iter()
            .map(|r| (r.recipient.as_str(), r))
            .collect()
    }
}

/// The report's section: the counts, and each opt-out and possible opt-out.
pub fn html(r: &Replies) -> String {
    let mut html = String::from("<h2>Replies and opt-outs</h2>");
    if r.total() == 0 {
        html.push_str("<p>No replies heard.</p>");
        return html;
    }
    let _ = write!(
        html,
        "<table id=\"replies\"><tr><th>opt-outs</th><th>possible opt-outs</th><th>opt-ins</th>\
         <th>help</th><th>other</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        r.opt_outs, r.possible_opt_outs, r.opt_ins, r.help, r.other
    );
    if let Some(confirmed) = r.confirmed() {
        let _ = write!(html, "<p>Opt-outs' confirmations: {}.</p>", esc(&confirmed));
    }
    if r.listed.is_empty() {
        return html;
    }
    html.push_str(
        "<h3>Opt-outs and possible opt-outs</h3><table id=\"opt-outs\"><tr><th>recipient</th><th>wrote</th><th>at (UTC)</th><th>read as</th></tr>",
    );
    for reply in &r.listed {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&reply.recipient),
            esc(&reply.text),
            crate::clock::rfc3339_secs(reply.at_ms),
            reply.verdict
        );
    }
    html.push_str("</table>");
    if r.possible_opt_outs > 0 {
        html.push_str("<p>A possible opt-out opens with an opt-out keyword and says more; it is recorded, not acted on, unless the operator has chosen to act on such messages.</p>");
    }
    html
}
