//! The pure parts of the Docker observer against a rendered compose file and
//! `docker inspect` output as Docker prints them.

use super::*;
use crate::observe::DeviationKind;
use serde_json::json;

const COMPOSE: &str = r#"
services:
  "web":
    image: "nginx:1"
    environment:
      "TZ": "UTC"
    ports:
      - "8080:80/tcp"
      - "9000/tcp"
    deploy:
      resources:
        limits:
          cpus: "0.5"
          memory: "512M"
"#;

fn container(service: &str) -> Inspected {
    serde_json::from_value(json!({
        "Name": "/homelabd-web-web-1",
        "State": {"Status": "running", "Running": true, "ExitCode": 0},
        "Config": {"Image": "nginx:1", "Env": ["TZ=UTC", "PATH=/bin"],
                   "Labels": {SERVICE_LABEL: service, PROJECT_LABEL: "homelabd-web"}},
        "HostConfig": {"Memory": 536870912, "NanoCpus": 500000000,
                       "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}
    }))
    .unwrap()
}

#[test]
fn docker_health_needs_every_container_running_and_its_healthcheck_healthy() {
    let running = container("web");
    assert!(container_health(&[&running]).passed);
    assert!(!container_health(&[]).passed);
    let mut restarting = container("web");
    restarting.state.status = "restarting".into();
    restarting.state.restarting = true;
    restarting.state.exit_code = 1;
    let a = container_health(&[&running, &restarting]);
    assert!(!a.passed);
    assert_eq!(a.detail, "homelabd-web-web-1 is restarting (exit code 1)");
    let mut starting = container("web");
    starting.state.health = Some(InspectedHealth {
        status: "starting".into(),
    });
    assert_eq!(
        container_health(&[&starting]).detail,
        "homelabd-web-web-1: HEALTHCHECK says starting"
    );
    starting.state.health = Some(InspectedHealth {
        status: "healthy".into(),
    });
    assert!(container_health(&[&starting]).passed);
}

#[test]
fn reads_the_rendered_compose_file() {
    let e = expected_services(COMPOSE).unwrap();
    assert_eq!(e[0].memory_bytes, Some(512 << 20));
    assert_eq!(e[0].nano_cpus, Some(500_000_000));
    assert_eq!(
        e[0].ports,
        BTreeMap::from([("80/tcp".into(), "8080".into())])
    );
}

#[test]
fn a_container_as_rendered_has_no_deviations() {
    let e = expected_services(COMPOSE).unwrap();
    assert_eq!(compare("web", &e, &[&container("web")]), vec![]);
}

#[test]
fn missing_stopped_and_changed_containers_are_told_apart() {
    let e = expected_services(COMPOSE).unwrap();
    let missing = compare("web", &e, &[]);
    assert_eq!(missing[0].kind, DeviationKind::Missing);
    assert_eq!(missing[0].key, "container/web");

    let mut c = container("web");
    c.state.running = false;
    c.state.status = "exited".into();
    c.host_config.memory = 1 << 30;
    c.config.env = Some(vec!["TZ=Europe/Amsterdam".into()]);
    let kinds: Vec<(DeviationKind, String)> = compare("web", &e, &[&c])
        .into_iter()
        .map(|d| (d.kind, d.key))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (DeviationKind::ConfigDrift, "container/web/env/TZ".into()),
            (DeviationKind::ConfigDrift, "container/web/memory".into()),
            (DeviationKind::ResourceChange, "container/web/state".into()),
        ]
    );
}

#[test]
fn a_secret_passed_through_from_the_environment_is_never_compared() {
    let compose = COMPOSE.replace(
        "\"TZ\": \"UTC\"",
        "\"TZ\": \"UTC\"\n      \"DB_PASSWORD\": null",
    );
    let e = expected_services(&compose).unwrap();
    assert!(!e[0].env.contains_key("DB_PASSWORD"));
    let mut c = container("web");
    c.config.env = Some(vec!["TZ=UTC".into(), "DB_PASSWORD=hunter2".into()]);
    let found = compare("web", &e, &[&c]);
    assert_eq!(found, vec![]);
}

#[test]
fn an_extra_service_under_the_project_is_unmanaged_and_never_auto_removed() {
    let e = expected_services(COMPOSE).unwrap();
    let found = compare("web", &e, &[&container("web"), &container("sidecar")]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, DeviationKind::Unmanaged);
    assert!(!found[0].auto_correctable);
}

#[test]
fn published_ports_are_endpoints_at_the_engine_host_once_per_address() {
    let mut c = container("web");
    c.network_settings = serde_json::from_value(json!({"Ports": {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
        "9000/tcp": null,
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]
    }}))
    .unwrap();
    let found = endpoints(&[&c], "nas");
    assert_eq!(
        found
            .iter()
            .map(|e| (e.name.as_str(), e.address.as_str()))
            .collect::<Vec<_>>(),
        vec![("web 53/udp", "127.0.0.1:5353"), ("web 80/tcp", "nas:8080")]
    );
    assert!(endpoints(&[&container("web")], "nas").is_empty());
}

#[test]
fn memory_notation() {
    assert_eq!(parse_bytes("512M"), Some(536_870_912));
    assert_eq!(parse_bytes("1g"), Some(1 << 30));
    assert_eq!(parse_bytes("2048"), Some(2048));
    assert_eq!(parse_bytes("1.5G"), Some(1_610_612_736));
    assert_eq!(parse_bytes("lots"), None);
}
