//! The balancer's listeners with and without a certificate (CertificateArn), read from
//! aforo.yaml as CloudFormation would instantiate it: HTTP only with 443 closed, or HTTPS on
//! 443 with a TLS 1.3/1.2 policy and HTTP redirecting to it with a 301.

use serde_json::{Map, Value, json};

use crate::template;

const CERTIFICATE: &str =
    "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-4a6b-8c7d-0123456789ab";

fn realized(extra: &[(&str, &str)]) -> Value {
    let mut overrides: Map<String, Value> = template::params("academy");
    for (key, value) in extra {
        overrides.insert(key.to_string(), json!(value));
    }
    template::realize(&template::load("aforo.yaml"), &overrides)
}

/// The ports the balancer's security group opens to the internet.
fn open_ports(t: &Value) -> Vec<i64> {
    let ingress = t["Resources"]["AlbSecurityGroup"]["Properties"]["SecurityGroupIngress"]
        .as_array()
        .expect("a list of rules");
    ingress
        .iter()
        .filter(|rule| rule["CidrIp"] == "0.0.0.0/0")
        .map(|rule| {
            assert_eq!(rule["FromPort"], rule["ToPort"], "{rule}");
            rule["FromPort"].as_i64().unwrap()
        })
        .collect()
}

fn base_url(t: &Value) -> String {
    t["Outputs"]["BaseUrl"]["Value"]["Fn::Sub"]
        .as_str()
        .unwrap()
        .to_string()
}

fn forwards_to_blue(actions: &Value) -> bool {
    actions == &json!([{ "Type": "forward", "TargetGroupArn": { "Ref": "WebTargetGroup" } }])
}

#[test]
fn without_a_certificate_the_balancer_speaks_http_only_and_443_stays_closed() {
    let t = realized(&[]);
    assert_eq!(open_ports(&t), vec![80]);
    assert!(t["Resources"].get("HttpsListener").is_none());
    let http = &t["Resources"]["HttpListener"]["Properties"];
    assert_eq!(
        (&http["Port"], &http["Protocol"]),
        (&json!(80), &json!("HTTP"))
    );
    assert!(forwards_to_blue(&http["DefaultActions"]), "{http}");
    assert_eq!(base_url(&t), "http://${LoadBalancer.DNSName}");
    // The requests policy waits for the listener that forwards.
    let ready = &t["Resources"]["ListenersReady"]["Metadata"];
    assert_eq!(ready["Https"], "", "{ready}");
}

#[test]
fn with_a_certificate_https_serves_on_443_and_http_redirects_with_a_301() {
    let t = realized(&[("CertificateArn", CERTIFICATE)]);
    assert_eq!(open_ports(&t), vec![80, 443]);
    let https = &t["Resources"]["HttpsListener"]["Properties"];
    assert_eq!(
        (&https["Port"], &https["Protocol"]),
        (&json!(443), &json!("HTTPS"))
    );
    assert_eq!(https["SslPolicy"], "ELBSecurityPolicy-TLS13-1-2-2021-06");
    assert_eq!(
        https["Certificates"],
        json!([{ "CertificateArn": CERTIFICATE }])
    );
    assert!(forwards_to_blue(&https["DefaultActions"]), "{https}");
    let http = &t["Resources"]["HttpListener"]["Properties"];
    assert_eq!(
        http["DefaultActions"],
        json!([{
            "Type": "redirect",
            "RedirectConfig": { "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301" }
        }])
    );
    assert_eq!(base_url(&t), "https://${LoadBalancer.DNSName}");
    let ready = &t["Resources"]["ListenersReady"]["Metadata"];
    assert_eq!(ready["Https"], json!({ "Ref": "HttpsListener" }), "{ready}");

    // The certificate covers a domain, not the balancer's name: BaseUrl then uses it.
    let named = realized(&[
        ("CertificateArn", CERTIFICATE),
        ("DomainName", "anb.example.org"),
    ]);
    assert_eq!(base_url(&named), "https://${DomainName}");
}

#[test]
fn blue_green_weights_move_to_the_https_listener_with_a_certificate() {
    let t = realized(&[
        ("CertificateArn", CERTIFICATE),
        ("GreenArtifactKey", "artifacts/green.tar.gz"),
    ]);
    let https = &t["Resources"]["HttpsListener"]["Properties"]["DefaultActions"];
    let groups = &https[0]["ForwardConfig"]["TargetGroups"];
    assert_eq!(groups.as_array().map(Vec::len), Some(2), "{https}");
    let http = &t["Resources"]["HttpListener"]["Properties"]["DefaultActions"];
    assert_eq!(http[0]["Type"], "redirect", "{http}");
    // Without a certificate the HTTP listener keeps them.
    let plain = realized(&[("GreenArtifactKey", "artifacts/green.tar.gz")]);
    let http = &plain["Resources"]["HttpListener"]["Properties"]["DefaultActions"];
    assert_eq!(
        http[0]["ForwardConfig"]["TargetGroups"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}
