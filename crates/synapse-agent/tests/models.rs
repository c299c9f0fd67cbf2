//! The Models API and turns whose model does not exist, against the scripted
//! Messages API over real HTTP.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use synapse_agent::anthropic::models::ModelsError;
use synapse_agent::anthropic::AnthropicClient;
use synapse_agent::{Agent, CancellationToken, ErrorKind, NoTools, Settings, TurnStatus};
use synapse_test_support::messages_api::{Script, ScriptResponse as R, ScriptedApi};
use synapse_test_support::models_api::{default_models, ModelsFault, ScriptModel};

const WAIT: Duration = Duration::from_secs(30);

fn model_404(model: &str) -> R {
    R::from_value(json!({"fault": "http_status", "status": 404,
        "error_type": "not_found_error", "message": format!("model: {model}")}))
    .unwrap()
}

fn spec_with(model: &str) -> synapse_agent::TurnSpec {
    let mut s = spec("hello");
    s.model = model.into();
    s
}

async fn turn(agent: &Agent, model: &str) -> synapse_agent::TurnResult {
    let rec = Recorder::default();
    tokio::time::timeout(
        WAIT,
        agent.run_turn(spec_with(model), &NoTools, &rec, CancellationToken::new()),
    )
    .await
    .expect("turn ends in time")
}

#[tokio::test]
async fn list_reads_every_page_with_the_client_headers() {
    let api = ScriptedApi::start(Script::default());
    let many: Vec<ScriptModel> = (0..7)
        .map(|i| {
            ScriptModel::new(
                &format!("claude-m-{i}"),
                &format!("M {i}"),
                "2026-01-01T00:00:00Z",
            )
        })
        .collect();
    api.models().set(many);
    let client = AnthropicClient::new(&settings(&api)).unwrap();
    let list = client.list_models_paged(3).await.unwrap();
    let ids: Vec<&str> = list.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        (0..7).map(|i| format!("claude-m-{i}")).collect::<Vec<_>>()
    );
    assert_eq!(list[2].display_name, "M 2");
    assert_eq!(list[0].raw["type"], json!("model"));
    let reqs = api.models().requests();
    assert_eq!(
        reqs.iter()
            .map(|r| r.path_and_query.as_str())
            .collect::<Vec<_>>(),
        [
            "/v1/models?limit=3",
            "/v1/models?limit=3&after_id=claude-m-2",
            "/v1/models?limit=3&after_id=claude-m-5"
        ]
    );
    for r in &reqs {
        assert_eq!(r.headers.get("x-api-key").map(String::as_str), Some(KEY));
        assert_eq!(
            r.headers.get("anthropic-version").map(String::as_str),
            Some("2023-06-01")
        );
        assert_eq!(
            r.headers.get("accept").map(String::as_str),
            Some("application/json")
        );
    }
    assert!(api.requests().is_empty(), "no messages request was made");
}

#[tokio::test]
async fn list_failures_are_reported_without_the_key() {
    let api = ScriptedApi::start(Script::default());
    api.models().push_fault([ModelsFault::status(401)]);
    let client = AnthropicClient::new(&settings(&api)).unwrap();
    let e = client
        .list_models(&CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(e, ModelsError::Http { status: 401, .. }), "{e:?}");
    assert!(!e.to_string().contains(KEY));
    let none = AnthropicClient::new(&Settings {
        base_url: api.base_url(),
        ..Settings::default()
    })
    .unwrap();
    let e = none
        .list_models(&CancellationToken::new())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("synapsed auth login"), "{e}");
    let closed = AnthropicClient::new(&Settings {
        base_url: "http://127.0.0.1:9".into(),
        ..settings(&api)
    })
    .unwrap();
    let e = closed
        .list_models(&CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(e, ModelsError::Connection(_)), "{e:?}");
}

#[tokio::test]
async fn a_missing_model_ends_not_found_naming_it_and_others() {
    let api = ScriptedApi::start(Script::new(vec![
        model_404("claude-gone"),
        model_404("claude-gone"),
    ]));
    let agent = Agent::new(settings(&api)).unwrap();
    assert_eq!(agent.model_available("claude-gone"), None);
    let r = turn(&agent, "claude-gone").await;
    assert_eq!(r.status, TurnStatus::ApiError);
    let e = r.error.unwrap();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.starts_with("model \"claude-gone\" is not available (Messages API returned HTTP 404 not_found_error: model: claude-gone"), "{}", e.message);
    let first: Vec<String> = default_models()
        .iter()
        .take(5)
        .map(|m| m.id.clone())
        .collect();
    assert!(
        e.message
            .contains(&format!("Available: {}", first.join(", "))),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("`--model`")
            && e.message.contains("SYNAPSE_MODEL")
            && e.message.contains("`model` in the config file")
    );
    assert_eq!(agent.model_available("claude-gone"), Some(false));
    assert_eq!(
        agent.model_available("claude-sonnet-5-5"),
        Some(true),
        "listed models are known"
    );
    // The list is cached per agent: a second 404 does not fetch it again.
    let r2 = turn(&agent, "claude-gone").await;
    let tail = |m: &str| m.split_once(")). ").map(|(_, t)| t.to_owned());
    assert_eq!(tail(&r2.error.unwrap().message), tail(&e.message));
    assert_eq!(api.models().requests().len(), 1);
    assert_eq!(api.requests().len(), 2, "404 is not retried");
}

#[tokio::test]
async fn a_failed_models_list_still_names_the_model() {
    for (fault, says) in [
        (ModelsFault::status(500), "HTTP 500 api_error"),
        (ModelsFault::delay(5_000), "did not answer within 1.0 s"),
    ] {
        let api = ScriptedApi::start(Script::new(vec![model_404("claude-gone"), R::text("ok")]));
        api.models().push_fault([fault]);
        let s = Settings {
            stream_idle_timeout: Duration::from_secs(1),
            ..settings(&api)
        };
        let agent = Agent::new(s).unwrap();
        let r = turn(&agent, "claude-gone").await;
        let e = r.error.unwrap();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(
            e.message
                .starts_with("model \"claude-gone\" is not available"),
            "{}",
            e.message
        );
        assert!(
            e.message
                .contains("The list of available models could not be fetched"),
            "{}",
            e.message
        );
        assert!(e.message.contains(says), "{}", e.message);
        assert!(e.message.contains("SYNAPSE_MODEL"));
        // The failure is not cached: the next turn works and marks its model.
        let r = turn(&agent, "claude-sonnet-5-5").await;
        assert_eq!(r.status, TurnStatus::Complete);
        assert_eq!(agent.model_available("claude-sonnet-5-5"), Some(true));
    }
}
