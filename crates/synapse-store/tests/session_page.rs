//! `session.get` pages: the raw page answers the same bytes as the parsed
//! detail, and reads only the page's rows (query plans on a real file).

use serde_json::{json, Value};
use synapse_protocol::{SessionDetail, Timestamp};
use synapse_store::{NewTurn, Store};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn new_turn(turn_id: &str, session_id: &str, at: i64) -> NewTurn {
    NewTurn {
        turn_id: turn_id.into(),
        session_id: session_id.into(),
        prompt: format!("prompt of {turn_id}"),
        host_id: Some("h1".into()),
        created_at: Timestamp::from_unix_ms(1_700_000_000_000 + at),
        params: json!({"model": "claude-x", "max_tokens": 8192}),
    }
}

/// A session of `turns` turns: a user message and an assistant answer each
/// (every third answer a tool round, with odd characters in the text).
fn filled(store: &Store, sid: &str, turns: usize) -> TestResult {
    for i in 0..turns {
        let tid = format!("t{i:04}");
        store.insert_turn(&new_turn(&tid, sid, i64::try_from(i)?))?;
        store.append_message(
            sid,
            &tid,
            &json!({"role": "user", "content": format!("question {i} «é» \"q\"\n")}),
        )?;
        let answer = if i % 3 == 0 {
            json!({"role": "assistant", "content": [
                {"type": "text", "text": "let me look"},
                {"type": "tool_use", "id": format!("toolu_{i}"), "name": "x", "input": {"n": i, "f": 1.5}}]})
        } else {
            json!({"role": "assistant", "content": [{"type": "text", "text": format!("answer {i} \u{1F600}")}]})
        };
        store.append_message(sid, &tid, &answer)?;
    }
    Ok(())
}

/// What a page of `whole` is: its messages from `after + 1`, at most
/// `limit`, and the turns of those messages.
fn expected(whole: &SessionDetail, after: Option<u64>, limit: Option<u32>) -> SessionDetail {
    let first = after.map_or(0, |a| usize::try_from(a + 1).unwrap_or(usize::MAX));
    let n = limit.map_or(usize::MAX, |l| l as usize);
    let messages: Vec<Value> = whole.messages.iter().skip(first).take(n).cloned().collect();
    // Two messages per turn, in order: message k belongs to turn k / 2.
    let turns = whole
        .turns
        .iter()
        .enumerate()
        .filter(|(t, _)| (first..first.saturating_add(messages.len())).any(|k| k / 2 == *t))
        .map(|(_, t)| t.clone())
        .collect();
    SessionDetail {
        session_id: whole.session_id.clone(),
        messages,
        turns,
        message_count: whole.message_count,
    }
}

#[test]
fn a_raw_page_is_the_same_bytes_as_the_parsed_page() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let store = Store::open(tmp.path().join("s.db"))?;
    store.create_session("s1", Timestamp::from_unix_ms(1_700_000_000_000), None)?;
    filled(&store, "s1", 40)?;
    let whole = store.get_session("s1")?.ok_or("no session")?;
    assert_eq!(whole.messages.len(), 80);
    assert_eq!(whole.message_count, 80);
    let all = store.session_page("s1", None, None)?.ok_or("no page")?;
    assert_eq!(serde_json::to_string(&all)?, serde_json::to_string(&whole)?);
    for (after, limit) in [
        (None, Some(1)),
        (None, Some(100)),
        (Some(0), Some(3)),
        (Some(10), Some(7)),
        (Some(78), Some(100)),
        (Some(79), Some(5)),
        (Some(500), Some(5)),
        (Some(5), None),
    ] {
        let page = store.session_page("s1", after, limit)?.ok_or("no page")?;
        let want = expected(&whole, after, limit);
        assert_eq!(
            serde_json::to_string(&page)?,
            serde_json::to_string(&want)?,
            "after {after:?}, limit {limit:?}"
        );
        assert_eq!(page.clone().into_detail(), want);
        assert_eq!(store.get_session_page("s1", after, limit)?, Some(want));
    }
    assert!(store.session_page("nope", None, Some(5))?.is_none());
    Ok(())
}

fn plan(conn: &rusqlite::Connection, sql: &str) -> Result<String, rusqlite::Error> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(3))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?.join("; "))
}

#[test]
fn a_page_reads_by_key_not_by_scan() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let path = tmp.path().join("s.db");
    let store = Store::open(&path)?;
    store.create_session("s1", Timestamp::from_unix_ms(1_700_000_000_000), None)?;
    filled(&store, "s1", 3)?;
    drop(store);
    let conn = rusqlite::Connection::open(&path)?;
    let messages = plan(
        &conn,
        "SELECT turn_id, role, content FROM messages
         WHERE session_id = 's1' AND idx >= 10 ORDER BY idx LIMIT 100",
    )?;
    assert!(
        messages.contains("SEARCH messages USING INDEX") && messages.contains("idx>?"),
        "{messages}"
    );
    assert!(!messages.contains("TEMP B-TREE"), "{messages}");
    let turns = plan(
        &conn,
        "SELECT id, seq FROM turns WHERE id = 't0001' AND session_id = 's1'",
    )?;
    assert!(
        turns.contains("SEARCH turns USING INDEX") && turns.contains("(id=?)"),
        "{turns}"
    );
    let count = plan(
        &conn,
        "SELECT COUNT(*) FROM messages WHERE session_id = 's1'",
    )?;
    assert!(count.contains("COVERING INDEX"), "{count}");
    Ok(())
}
