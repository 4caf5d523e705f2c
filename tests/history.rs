//! History beyond the `welcome`: a welcome carries a bounded number of chats and says when
//! it left some out; `history` pages bring in the rest, forward or back, with the same
//! privacy as the welcome.

mod common;

use common::{connect, resume, start_with, test_config, Client};
use flock::protocol::{ChatMessage, ChatTarget, ClientMsg, ErrorCode, ServerMsg, HISTORY_LEN};
use flock::server::store::PAGE_BYTES;

/// Asks for a page and returns its chats' seqs and `more`.
async fn page(client: &mut Client, after: Option<u64>, before: Option<u64>, limit: Option<usize>) -> (Vec<u64>, bool) {
    let (chats, more) = client.page(after, before, limit).await;
    (chats.iter().map(|c: &ChatMessage| c.seq).collect(), more)
}

/// Sends `n` chats from `client`, every tenth a direct one to `dm`, and waits until the
/// last is stored; returns the seqs of the room-wide ones and of the direct ones.
async fn chat_many(client: &mut Client, n: usize, dm: uuid::Uuid) -> (Vec<u64>, Vec<u64>) {
    let (mut public, mut direct) = (Vec::new(), Vec::new());
    for i in 0..n {
        let to = if i % 10 == 9 { ChatTarget::User(dm) } else { ChatTarget::Room };
        client.send(&ClientMsg::Chat { text: format!("m{i}"), to, reference: Some(format!("r{i}")) }).await;
        let (seq, _) = client
            .recv_until(|m| {
                matches!(m, ServerMsg::Ack { reference, seq } if *reference == format!("r{i}")).then(|| match m {
                    ServerMsg::Ack { seq, .. } => *seq,
                    _ => unreachable!(),
                })
            })
            .await;
        if matches!(to, ChatTarget::User(_)) {
            direct.push(seq)
        } else {
            public.push(seq)
        }
    }
    (public, direct)
}

#[tokio::test]
async fn pages_go_back_and_forth_and_direct_chats_stay_with_their_two_parties() {
    let addr = start_with(test_config()).await;
    let mut ann = connect(addr, "pages", "Ann").await;
    let mut bob = connect(addr, "pages", "Bob").await;
    let mut cat = connect(addr, "pages", "Cat").await;
    let (public, direct) = chat_many(&mut ann, 130, bob.id).await;
    let latest = *public.last().max(direct.last()).unwrap();

    let newest = page(&mut cat, None, Some(latest + 1), Some(100)).await;
    assert_eq!(newest, (public[public.len() - 100..].to_vec(), true), "the newest 100 Cat may see");
    let rest = page(&mut cat, None, Some(newest.0[0]), Some(100)).await;
    assert_eq!(rest, (public[..public.len() - 100].to_vec(), false), "then the rest, and no more");

    let mut both: Vec<u64> = public.iter().chain(&direct).copied().collect();
    both.sort();
    let oldest = page(&mut bob, Some(0), None, Some(50)).await;
    assert_eq!(oldest, (both[..50].to_vec(), true), "forward from the start, direct ones included");
    let next = page(&mut bob, Some(oldest.0[49]), None, None).await;
    assert_eq!(next.0, both[50..100].to_vec(), "50 by default");

    let fresh = connect(addr, "pages", "Dan").await;
    assert_eq!(fresh.history.len(), HISTORY_LEN);
    assert!(fresh.more, "a fresh welcome says older chats exist");
}

#[tokio::test]
async fn a_resume_past_replay_max_gets_the_newest_and_pages_the_rest() {
    let mut config = test_config();
    config.replay_max = 20;
    config.leave_grace_secs = 60;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "replay", "Ann").await;
    let bob = connect(addr, "replay", "Bob").await;
    let (since, session) = (bob.seq, bob.session.clone());
    drop(bob);
    let ann_id = ann.id;
    // Every tenth is Ann's note to herself, which Bob may not see.
    let (public, _) = chat_many(&mut ann, 50, ann_id).await;
    let mut back = resume(addr, "replay", &session, since).await;
    let replayed: Vec<u64> = back.history.iter().map(|c| c.seq).collect();
    assert_eq!(replayed, public[public.len() - 20..].to_vec(), "the newest 20 of those Bob missed");
    assert!(back.more, "and it says some were left out");
    let gap = page(&mut back, Some(since), None, Some(30)).await;
    assert_eq!(gap.0, public[..30].to_vec(), "the gap pages in, in order");
}

#[tokio::test]
async fn a_page_is_bounded_in_bytes_too() {
    let addr = start_with(test_config()).await;
    let mut ann = connect(addr, "big", "Ann").await;
    let text = "x".repeat(2000);
    for i in 0..100 {
        ann.send(&ClientMsg::Chat { text: text.clone(), to: ChatTarget::Room, reference: Some(format!("b{i}")) }).await;
    }
    ann.recv_until(|m| matches!(m, ServerMsg::Ack { reference, .. } if reference == "b99").then_some(())).await;
    let (seqs, more) = page(&mut ann, Some(0), None, Some(100)).await;
    assert!(more && seqs.len() <= PAGE_BYTES / 2000 + 1 && seqs.len() > 10, "{} chats", seqs.len());
}

#[tokio::test]
async fn a_history_request_must_say_which_way_and_how_many() {
    let addr = start_with(test_config()).await;
    let mut ann = connect(addr, "bad-pages", "Ann").await;
    for request in [
        ClientMsg::History { after: Some(1), before: Some(5), limit: None },
        ClientMsg::History { after: None, before: None, limit: None },
        ClientMsg::History { after: Some(0), before: None, limit: Some(0) },
        ClientMsg::History { after: Some(0), before: None, limit: Some(101) },
    ] {
        ann.send(&request).await;
        let ServerMsg::Error { code, .. } = ann.recv().await else { panic!("expected an error for {request:?}") };
        assert_eq!(code, ErrorCode::Invalid, "{request:?}");
    }
}
