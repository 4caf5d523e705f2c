//! Connections that stop cooperating: one that stops reading, one that goes silent.
//! Neither may hold up the room, and the slow one comes back without losing anything.

mod common;

use common::{away_in, chat_seqs, connect, resume, start_with, test_config};
use flock::protocol::{close, ChatTarget, ClientMsg, ServerMsg};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_with_1013_then_resumes_with_nothing_missing() {
    let mut config = test_config();
    // Ann floods on purpose; this test is about Bob, not about her rate limit.
    config.rate_per_sec = 1e9;
    config.rate_burst = 1e9;
    config.history_keep = 1_000_000;
    // Bob's place is held until he comes back.
    config.leave_grace_secs = 120;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "slow", "Ann").await;
    let mut bob = connect(addr, "slow", "Bob").await; // reads nothing until the end
    let mut cat = connect(addr, "slow", "Cat").await;
    ann.drain().await;
    let bob_id = bob.id;

    // Cat reads everything: the seqs of Ann's chats until her last one. Ann waits for Cat
    // after each batch, so only Bob falls behind.
    let (progress, mut cat_got) = tokio::sync::watch::channel(0usize);
    let cat_reader = tokio::spawn(async move {
        let mut seqs = Vec::new();
        loop {
            if let ServerMsg::Chat(chat) = cat.recv().await {
                if chat.text == "done" {
                    return seqs;
                }
                seqs.push(chat.seq);
                progress.send_replace(seqs.len());
            }
        }
    });

    let text = "x".repeat(1000);
    let mut sent = 0usize;
    while away_in(addr, "slow").await == 0 {
        assert!(sent < 100_000, "Bob was never cut off");
        for _ in 0..100 {
            ann.send(&ClientMsg::chat(text.clone(), ChatTarget::Others)).await;
            sent += 1;
        }
        cat_got.wait_for(|got| *got >= sent).await.expect("Cat reads on");
    }
    ann.send(&ClientMsg::chat("done", ChatTarget::Others)).await;
    let cat_seqs = cat_reader.await.unwrap();
    assert_eq!(cat_seqs.len(), sent, "Cat missed chats while Bob stalled");

    // Bob finally reads: what reached him before the cut, then the 1013.
    let (before, code) = bob.read_until_closed().await;
    assert_eq!(code, close::TRY_AGAIN);
    let mut bob_seqs = chat_seqs(&before, |t| t != "done");
    let since = bob_seqs.last().copied().unwrap_or(bob.seq);
    let mut back = resume(addr, "slow", &bob.session, since).await;
    assert_eq!(back.id, bob_id, "the same user comes back");
    assert!(!back.reset);
    // The welcome holds the newest of what Bob missed; history pages bring in the rest.
    let missed = back.missed_before_welcome(since).await;
    bob_seqs.extend(missed.iter().chain(&back.history).filter(|c| c.text != "done").map(|c| c.seq));
    assert_eq!(bob_seqs, cat_seqs, "every chat once, in order, live or replayed");
    let seen_by_ann = ann.drain().await;
    assert!(
        !seen_by_ann.iter().any(|m| matches!(m, ServerMsg::Left { .. } | ServerMsg::Joined { .. })),
        "Bob's stall and return were invisible to the room: {seen_by_ann:?}"
    );
}

#[tokio::test]
async fn a_client_that_goes_silent_is_dropped_after_the_idle_timeout() {
    let mut config = test_config();
    config.ping_secs = 1;
    config.idle_timeout_secs = 2;
    config.leave_grace_secs = 1;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "silent", "Ann").await;
    let bob = connect(addr, "silent", "Bob").await;
    ann.recv().await; // joined
                      // Bob never reads again, so he never answers a ping; Ann does (she keeps reading).
    let bob_id = bob.id;
    let (left, _) = ann.recv_until(|m| matches!(m, ServerMsg::Left { .. }).then(|| m.clone())).await;
    assert_eq!(left, ServerMsg::Left { id: bob_id });
    drop(bob);
}
