//! A contact's presence across their clients: each resource says available/away/dnd...; the
//! contact is shown as their most available resource, and offline when the last one leaves.
//! Pure.

use std::collections::HashMap;

/// How available a resource is, most available first.
fn rank(show: &str) -> u8 {
    match show {
        "chat" => 0,
        "available" => 1,
        "away" => 2,
        "xa" => 3,
        "dnd" => 4,
        _ => 5,
    }
}

#[derive(Debug, Default)]
pub struct Presences {
    /// contact → resource → (show, status)
    by_contact: HashMap<String, HashMap<String, (String, Option<String>)>>,
}

impl Presences {
    /// Records one presence (`show` is "available" for a plain `<presence/>`, or
    /// "unavailable"); returns the contact's resulting presence and status.
    pub fn update(
        &mut self,
        contact: &str,
        resource: &str,
        show: &str,
        status: Option<String>,
    ) -> (String, Option<String>) {
        let entry = self.by_contact.entry(contact.to_string()).or_default();
        if show == "unavailable" {
            entry.remove(resource);
        } else {
            entry.insert(resource.to_string(), (show.to_string(), status));
        }
        let best = entry
            .values()
            .min_by_key(|(s, _)| rank(s))
            .map(|(s, st)| (s.clone(), st.clone()));
        if entry.is_empty() {
            self.by_contact.remove(contact);
        }
        best.unwrap_or_else(|| ("offline".to_string(), None))
    }

    /// The connection is gone: nobody is known to be online.
    pub fn clear(&mut self) {
        self.by_contact.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_available_resource_wins_until_the_last_leaves() {
        let mut p = Presences::default();
        assert_eq!(p.update("bob", "phone", "away", None).0, "away");
        assert_eq!(
            p.update("bob", "desk", "available", Some("here".into())),
            ("available".to_string(), Some("here".to_string()))
        );
        assert_eq!(p.update("bob", "desk", "unavailable", None).0, "away");
        assert_eq!(p.update("bob", "phone", "unavailable", None).0, "offline");
        assert_eq!(p.update("carol", "x", "dnd", None).0, "dnd");
        p.clear();
        assert_eq!(p.update("carol", "y", "unavailable", None).0, "offline");
    }
}
