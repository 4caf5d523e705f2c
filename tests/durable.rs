//! Durable chat against a real server: gap-free seqs, history, acknowledgements, direct
//! messages kept private in replays, resets, and a SIGKILL in the middle of a conversation.

mod common;

use common::{chat_seqs, connect, resume, spawn_server, start, start_with, test_config, Client};
use flock::protocol::{close, ChatMessage, ChatTarget, ClientMsg, ErrorCode, ServerMsg, HISTORY_LEN};
use flock::server::store::PRUNE_EVERY;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

fn texts(history: &[ChatMessage]) -> Vec<&str> {
    history.iter().map(|c| c.text.as_str()).collect()
}

#[tokio::test]
async fn chats_get_gap_free_seqs_and_newcomers_get_the_history() {
    let addr = start().await;
    let mut ann = connect(addr, "seq", "Ann").await;
    assert_eq!((ann.seq, ann.history.len()), (0, 0));
    for text in ["one", "two", "three"] {
        ann.send(&ClientMsg::chat(text, ChatTarget::Room)).await;
    }
    let mut seqs = Vec::new();
    for _ in 0..3 {
        match ann.recv().await {
            ServerMsg::Chat(chat) => seqs.push(chat.seq),
            other => panic!("expected a chat, got {other:?}"),
        }
    }
    assert_eq!(seqs, [1, 2, 3]);
    let bob = connect(addr, "seq", "Bob").await;
    assert_eq!(bob.seq, 3);
    assert_eq!(texts(&bob.history), ["one", "two", "three"]);
}

#[tokio::test]
async fn the_welcome_history_holds_the_newest_fifty_oldest_first() {
    let addr = start().await;
    let mut ann = connect(addr, "many", "Ann").await;
    for i in 1..=60 {
        ann.send(&ClientMsg::chat(format!("m{i}"), ChatTarget::Room)).await;
    }
    ann.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.seq == 60).then_some(())).await;
    let bob = connect(addr, "many", "Bob").await;
    let seqs: Vec<u64> = bob.history.iter().map(|c| c.seq).collect();
    assert_eq!(seqs.len(), HISTORY_LEN);
    assert_eq!(seqs, (11..=60).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_ref_is_acknowledged_once_stored_and_a_resent_ref_is_not_stored_again() {
    let addr = start().await;
    let mut ann = connect(addr, "ack", "Ann").await;
    let mut bob = connect(addr, "ack", "Bob").await;
    ann.recv().await; // joined
    let chat = json!({"type":"chat","text":"once","ref":"r-1"});
    ann.send_json(chat.clone()).await;
    let seq = match ann.recv().await {
        ServerMsg::Chat(chat) => chat.seq,
        other => panic!("expected the chat, got {other:?}"),
    };
    assert_eq!(ann.recv().await, ServerMsg::Ack { reference: "r-1".into(), seq });
    ann.send_json(chat).await;
    assert_eq!(ann.recv().await, ServerMsg::Ack { reference: "r-1".into(), seq });
    // An `others` chat is not echoed: the ack is all its sender gets.
    ann.send_json(json!({"type":"chat","text":"not to me","to":"others","ref":"r-2"})).await;
    assert_eq!(ann.recv().await, ServerMsg::Ack { reference: "r-2".into(), seq: seq + 1 });
    let seen = bob.drain().await;
    assert_eq!(chat_seqs(&seen, |t| t == "once"), [seq], "Bob got it exactly once");
    assert_eq!(chat_seqs(&seen, |t| t == "not to me"), [seq + 1]);
}

#[tokio::test]
async fn a_bad_ref_is_refused_as_invalid() {
    let addr = start().await;
    let mut ann = connect(addr, "badref", "Ann").await;
    for reference in [String::new(), "r".repeat(65)] {
        ann.send_json(json!({"type":"chat","text":"x","ref":reference})).await;
        assert!(matches!(ann.recv().await, ServerMsg::Error { code: ErrorCode::Invalid, .. }));
    }
    ann.send_json(json!({"type":"chat","text":"x","ref":7})).await;
    assert!(matches!(ann.recv().await, ServerMsg::Error { code: ErrorCode::Invalid, .. }));
}

#[tokio::test]
async fn direct_messages_are_replayed_only_to_their_two_parties() {
    let addr = start().await;
    let mut ann = connect(addr, "dm", "Ann").await;
    let mut bob = connect(addr, "dm", "Bob").await;
    ann.recv().await; // joined
    ann.send(&ClientMsg::chat("for bob", ChatTarget::User(bob.id))).await;
    ann.send(&ClientMsg::chat("for all", ChatTarget::Room)).await;
    ann.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "for all").then_some(())).await;

    let cat = connect(addr, "dm", "Cat").await;
    assert_eq!(texts(&cat.history), ["for all"]);
    let bob_again = resume(addr, "dm", &bob.session, 0).await;
    assert_eq!(bob_again.id, bob.id);
    assert_eq!(texts(&bob_again.history), ["for bob", "for all"]);
    // The resumed session took over: the old connection is told so.
    assert_eq!(bob.closed_with().await, close::REPLACED);
    let ann_again = resume(addr, "dm", &ann.session, 0).await;
    assert_eq!(texts(&ann_again.history), ["for bob", "for all"]);
}

#[tokio::test]
async fn a_resume_from_before_the_kept_history_is_told_to_reset() {
    let mut config = test_config();
    config.history_keep = 3;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "reset", "Ann").await;
    // Pruning runs every PRUNE_EVERY chats: after that many, only the newest 3 are kept.
    let last = PRUNE_EVERY;
    for i in 1..=last {
        ann.send(&ClientMsg::chat(format!("m{i}"), ChatTarget::Room)).await;
    }
    ann.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.seq == last).then_some(())).await;
    let newest: Vec<String> = (last - 2..=last).map(|i| format!("m{i}")).collect();

    let kept = resume(addr, "reset", &ann.session, last - 3).await;
    assert!(!kept.reset, "everything after {} is kept", last - 3);
    assert_eq!(texts(&kept.history), newest);
    let pruned = resume(addr, "reset", &ann.session, last - 4).await;
    assert!(pruned.reset, "{} is gone", last - 3);
    assert_eq!(texts(&pruned.history), newest);
    let ahead = resume(addr, "reset", &ann.session, last + 99).await;
    assert!(ahead.reset, "the client knows a seq the server never issued");
}

/// What one participant was shown: every chat in arrival order, and its acks.
#[derive(Default)]
struct Seen {
    chats: Vec<ChatMessage>,
    acks: HashMap<String, u64>,
}

impl Seen {
    fn record(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Chat(chat) => self.chats.push(chat),
            ServerMsg::Ack { reference, seq } => {
                self.acks.insert(reference, seq);
            }
            _ => {}
        }
    }
}

/// Chats sent by each participant in the crash test.
const EACH: usize = 300;

fn chat_frame(reference: &str) -> serde_json::Value {
    json!({"type":"chat","text":reference,"ref":reference})
}

/// Chats a participant keeps in flight (sent, not yet acknowledged).
const WINDOW: usize = 8;

/// Sends `EACH` chats, up to `WINDOW` ahead of the acks, while recording everything shown,
/// until the server dies.
async fn chat_until_cut(client: Client, name: &'static str, acks: watch::Sender<usize>) -> Seen {
    let (mut sink, mut stream) = client.ws.split();
    let mut acked = acks.subscribe();
    let writer = tokio::spawn(async move {
        for i in 0..EACH {
            if acked.wait_for(|n| *n + WINDOW > i).await.is_err() {
                break;
            }
            let frame = chat_frame(&format!("{name}-{i}")).to_string();
            if sink.send(Message::text(frame)).await.is_err() {
                break;
            }
        }
    });
    let mut seen = Seen::default();
    while let Some(Ok(frame)) = stream.next().await {
        if let Message::Text(text) = frame {
            seen.record(serde_json::from_str(text.as_str()).expect("a server message"));
            acks.send_replace(seen.acks.len());
        }
    }
    writer.abort();
    seen
}

/// Resumes on the restarted server, resends every chat not acknowledged (same ref) and
/// reads until all are.
async fn resume_and_resend(addr: std::net::SocketAddr, name: &str, old: (&str, u64), seen: &mut Seen) -> Client {
    let (session, welcome_seq) = old;
    let since = seen.chats.last().map_or(welcome_seq, |c| c.seq);
    let mut client = resume(addr, "crash", session, since).await;
    assert!(!client.reset);
    // More than --replay-max may have come meanwhile (the other resent all it had left).
    seen.chats.append(&mut client.missed_before_welcome(since).await);
    seen.chats.append(&mut client.history);
    let unacked: Vec<String> =
        (0..EACH).map(|i| format!("{name}-{i}")).filter(|r| !seen.acks.contains_key(r)).collect();
    for reference in &unacked {
        client.send_json(chat_frame(reference)).await;
    }
    while unacked.iter().any(|r| !seen.acks.contains_key(r)) {
        let msg = client.recv().await;
        seen.record(msg);
    }
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sigkill_and_a_restart_every_acknowledged_chat_reaches_everyone_once_in_order() {
    sigkill_mid_conversation(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_while_a_batch_is_being_committed_loses_nothing_acknowledged() {
    // Each commit is held for 50 ms, so the kill lands while a batch of chats is queued
    // or being committed, the way a slow disk would have it.
    sigkill_mid_conversation(&[("FLOCK_COMMIT_DELAY_MS", "50")]).await;
}

/// Two people chat with refs; the server is killed mid-conversation and restarted; both
/// resume and resend what was not acknowledged. Every chat must then be stored exactly
/// once and shown to each of them exactly once, in order.
async fn sigkill_mid_conversation(extra: &[(&str, &str)]) {
    let data = tempfile::tempdir().unwrap();
    let mut envs = vec![("FLOCK_RATE_PER_SEC", "1000000"), ("FLOCK_RATE_BURST", "1000000")];
    envs.extend_from_slice(extra);
    let unlimited = envs.as_slice();
    let server = spawn_server(data.path(), unlimited).await;
    let ann = connect(server.addr, "crash", "Ann").await;
    let bob = connect(server.addr, "crash", "Bob").await;
    let ann_old = (ann.session.clone(), ann.seq, ann.id);
    let bob_old = (bob.session.clone(), bob.seq, bob.id);
    let (ann_acks, mut ann_progress) = watch::channel(0);
    let (bob_acks, _) = watch::channel(0);
    let ann_task = tokio::spawn(chat_until_cut(ann, "ann", ann_acks));
    let bob_task = tokio::spawn(chat_until_cut(bob, "bob", bob_acks));

    // Mid-conversation: a third of Ann's chats are acknowledged, the rest in flight.
    ann_progress.wait_for(|acked| *acked >= EACH / 3).await.unwrap();
    server.signal("KILL");
    assert!(!server.wait().await.success());
    let (mut ann_seen, mut bob_seen) = (ann_task.await.unwrap(), bob_task.await.unwrap());
    assert!(ann_seen.acks.len() < EACH, "the kill came too late to test anything");

    let server = spawn_server(data.path(), unlimited).await;
    let mut ann = resume_and_resend(server.addr, "ann", (&ann_old.0, ann_old.1), &mut ann_seen).await;
    let mut bob = resume_and_resend(server.addr, "bob", (&bob_old.0, bob_old.1), &mut bob_seen).await;
    assert_eq!((ann.id, bob.id), (ann_old.2, bob_old.2), "both came back as themselves");
    for msg in ann.drain().await {
        ann_seen.record(msg);
    }
    for msg in bob.drain().await {
        bob_seen.record(msg);
    }

    let acked: BTreeMap<u64, String> =
        ann_seen.acks.iter().chain(&bob_seen.acks).map(|(r, seq)| (*seq, r.clone())).collect();
    assert_eq!(acked.len(), 2 * EACH, "every chat was stored exactly once");
    for (who, seen) in [("Ann", &ann_seen), ("Bob", &bob_seen)] {
        let chats: Vec<&ChatMessage> = seen.chats.iter().filter(|c| !c.text.starts_with("marker-")).collect();
        assert!(chats.windows(2).all(|w| w[0].seq < w[1].seq), "{who} saw a chat twice or out of order");
        let shown: BTreeMap<u64, String> = chats.iter().map(|c| (c.seq, c.text.clone())).collect();
        assert_eq!(shown, acked, "{who} was not shown exactly the acknowledged chats");
    }
}

#[tokio::test]
async fn an_others_chat_is_replayed_to_its_sender_and_a_refused_chat_names_its_ref() {
    let addr = start().await;
    let mut ann = connect(addr, "own", "Ann").await;
    ann.send_json(json!({"type":"chat","text":"mine","to":"others","ref":"o-1"})).await;
    assert!(matches!(ann.recv().await, ServerMsg::Ack { .. }));
    let again = resume(addr, "own", &ann.session, 0).await;
    assert_eq!(texts(&again.history), ["mine"]);

    let mut cat = connect(addr, "own", "Cat").await;
    let nobody = uuid::Uuid::new_v4();
    cat.send_json(json!({"type":"chat","text":"hello?","to":nobody,"ref":"dm-1"})).await;
    match cat.recv().await {
        ServerMsg::Error { code: ErrorCode::NoSuchUser, reference, .. } => {
            assert_eq!(reference.as_deref(), Some("dm-1"))
        }
        other => panic!("expected no_such_user, got {other:?}"),
    }
}

#[tokio::test]
async fn rooms_chatting_at_once_each_get_every_chat_once_in_seq_order() {
    // Many rooms numbering and storing chats at the same time, from every worker: each room
    // must still see its own chats gap-free and in order, and a newcomer's history must
    // hold them all.
    let addr = start().await;
    let (rooms, per_user) = (8, 25);
    let mut pairs = Vec::new();
    for r in 0..rooms {
        let room = format!("busy-{r}");
        let mut ann = connect(addr, &room, "Ann").await;
        let bob = connect(addr, &room, "Bob").await;
        ann.recv().await; // Bob joined
        pairs.push((room, ann, bob));
    }
    for (_, ann, bob) in &mut pairs {
        for i in 0..per_user {
            ann.send(&ClientMsg::chat(format!("a{i}"), ChatTarget::Room)).await;
            bob.send(&ClientMsg::chat(format!("b{i}"), ChatTarget::Room)).await;
        }
    }
    let total = 2 * per_user as u64;
    for (room, ann, bob) in &mut pairs {
        for client in [ann, bob] {
            let (_, before) =
                client.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.seq == total).then_some(())).await;
            let mut seqs = chat_seqs(&before, |_| true);
            seqs.push(total);
            assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "room {room}");
        }
        let newcomer = connect(addr, room, "Cy").await;
        assert_eq!(newcomer.seq, total);
        assert_eq!(newcomer.history.iter().map(|c| c.seq).collect::<Vec<_>>(), (1..=total).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn a_chat_whose_sender_vanishes_right_after_sending_is_still_delivered() {
    let addr = start().await;
    let mut ann = connect(addr, "vanish", "Ann").await;
    let mut bob = connect(addr, "vanish", "Bob").await;
    ann.recv().await; // Bob joined
    ann.send_json(json!({"type":"chat","text":"last words","ref":"r-last"})).await;
    drop(ann); // no close frame: the connection just ends
    let (chat, _) = bob
        .recv_until(|m| match m {
            ServerMsg::Chat(c) => Some(c.clone()),
            _ => None,
        })
        .await;
    assert_eq!((chat.seq, chat.text.as_str()), (1, "last words"));
    let cy = connect(addr, "vanish", "Cy").await;
    assert_eq!(texts(&cy.history), ["last words"]);
}
