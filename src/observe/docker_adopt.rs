//! The Docker observer's side of adoption ([`crate::apply::docker_adopt`]): while a
//! resource's work directory records a container taken over as it ran, that container
//! is the resource's, compared with the render exactly as a compose-made one would be.
//! It carries no compose labels, so it is looked up by the id recorded at adoption and
//! shown to the comparison as the container of the render's one service.

use super::docker::{Inspected, SERVICE_LABEL};
use crate::apply::docker_adopt::Adopted;

/// `container` as the container of `service` (its compose service label set), so the
/// comparison reads it like one compose made.
pub fn as_service(mut container: Inspected, service: &str) -> Inspected {
    container
        .config
        .labels
        .get_or_insert_with(Default::default)
        .insert(SERVICE_LABEL.to_owned(), service.to_owned());
    container
}

/// The adopted container among `inspected` (the answer of `docker inspect ID`), as the
/// container of `service`; `None` when it is gone.
pub fn find(adopted: &Adopted, inspected: Vec<Inspected>, service: &str) -> Option<Inspected> {
    inspected
        .into_iter()
        .find(|c| c.id == adopted.id)
        .map(|c| as_service(c, service))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_adopted_container_stands_for_the_service_and_a_replacement_does_not() {
        let adopted = Adopted {
            container: "legacy".into(),
            id: "abc".into(),
            withheld_env: vec![],
        };
        let c: Inspected = serde_json::from_value(json!({
            "Id": "abc", "Name": "/legacy", "Config": {"Image": "busybox", "Labels": null}
        }))
        .unwrap();
        let found = find(&adopted, vec![c.clone()], "web").unwrap();
        assert_eq!(
            found
                .config
                .labels
                .unwrap()
                .get(SERVICE_LABEL)
                .map(String::as_str),
            Some("web")
        );
        let mut other = c;
        other.id = "def".into();
        assert_eq!(find(&adopted, vec![other], "web"), None);
    }
}
