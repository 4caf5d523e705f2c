//! The chat pipeline against a real server: chats are committed by the store's writer
//! thread in groups, so a slow disk holds up chats and nothing else, and a thousand rooms
//! chatting at once each get every one of their chats, in order; a commit that fails
//! leaves no gap in a room's seqs and hands none out twice.

mod common;

use common::{connect, start_with, test_config, Client};
use flock::protocol::{ChatTarget, ClientMsg, ErrorCode, Point, ServerMsg, MAX_PAGE_LEN};
use flock::server::store::DB_FILE;
use futures_util::future::join_all;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Rooms chatting in the held-commit test.
const BUSY_ROOMS: usize = 20;

fn chat(text: String, reference: String) -> ClientMsg {
    ClientMsg::Chat { text, to: ChatTarget::Room, reference: Some(reference) }
}

/// Waits for the ack of `reference`.
async fn acked(client: &mut Client, reference: &str) -> u64 {
    client
        .recv_until(|m| match m {
            ServerMsg::Ack { reference: r, seq } if r == reference => Some(*seq),
            _ => None,
        })
        .await
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_commit_holds_up_chats_but_not_the_cursors_of_another_room() {
    let mut config = test_config();
    // Every commit takes two seconds: a disk far slower than any real one.
    config.commit_delay_ms = 2000;
    let addr = start_with(config).await;
    let mover = connect(addr, "cursors", "Mover").await;
    let mut watcher = connect(addr, "cursors", "Watcher").await;
    let mut chatters =
        join_all((0..BUSY_ROOMS).map(|i| async move { connect(addr, &format!("busy-{i}"), "Chatter").await })).await;
    for (i, chatter) in chatters.iter_mut().enumerate() {
        chatter.send(&chat(format!("hello {i}"), format!("c{i}"))).await;
    }

    // The mover moves on a steady beat; the watcher counts what arrives before the first
    // chat is acknowledged (which the held commit keeps from happening for seconds).
    let mut mover = mover;
    let moving = tokio::spawn(async move {
        for step in 0u32.. {
            let x = f64::from(step % 100) / 100.0;
            mover.send(&ClientMsg::Cursor { x, y: 0.5 }).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let mut first = chatters.remove(0);
    let ack = acked(&mut first, "c0");
    tokio::pin!(ack);
    let mut moves = 0usize;
    let mut last: Option<Point> = None;
    loop {
        tokio::select! {
            _ = &mut ack => break,
            msg = watcher.recv() => {
                if let ServerMsg::Cursors { moves: batch } = msg {
                    for mv in batch {
                        let point = Point { x: mv.x, y: mv.y };
                        if last != Some(point) {
                            moves += 1;
                            last = Some(point);
                        }
                    }
                }
            }
        }
    }
    moving.abort();
    assert!(moves >= 20, "cursor moves kept arriving while the chats' commit was held: {moves}");
    for (i, chatter) in chatters.iter_mut().enumerate() {
        acked(chatter, &format!("c{}", i + 1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_rooms_chatting_at_once_each_get_every_chat_in_order() {
    const ROOMS: usize = 1000;
    const CHATS: usize = 3;
    let mut config = test_config();
    config.max_conns_per_ip = 4 * ROOMS;
    config.max_pending_per_ip = 4 * ROOMS;
    let addr = start_with(config).await;
    let mut pairs = Vec::new();
    for chunk in (0..ROOMS).collect::<Vec<_>>().chunks(100) {
        let opened = join_all(chunk.iter().map(|i| async move {
            let room = format!("many-{i}");
            (connect(addr, &room, "Ann").await, connect(addr, &room, "Bob").await)
        }))
        .await;
        pairs.extend(opened);
    }
    // Everyone sends at once; then each reads until it has its room's 2 × CHATS chats.
    for (ann, bob) in &mut pairs {
        for k in 0..CHATS {
            ann.send(&chat(format!("ann {k}"), format!("a{k}"))).await;
            bob.send(&chat(format!("bob {k}"), format!("b{k}"))).await;
        }
    }
    // A room whose members do not all get every chat fails its task (a read times out).
    let rooms = join_all(pairs.into_iter().map(|(mut ann, mut bob)| {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            for client in [&mut ann, &mut bob] {
                let mut seqs = Vec::new();
                while seqs.len() < 2 * CHATS {
                    if let ServerMsg::Chat(chat) = client.recv().await {
                        seqs.push(chat.seq);
                    }
                }
                seen.push(seqs);
            }
            seen
        })
    }))
    .await;
    let missing = rooms.iter().filter(|room| room.is_err()).count();
    assert_eq!(missing, 0, "rooms where a member did not get every chat");
    let expected: Vec<u64> = (1..=(2 * CHATS) as u64).collect();
    for seen in rooms.into_iter().flatten() {
        assert!(seen.iter().all(|seqs| *seqs == expected), "every member saw 1..={} in order: {seen:?}", 2 * CHATS);
    }
}

#[tokio::test]
async fn a_room_everyone_left_while_its_chat_was_being_committed_still_delivers_it_to_the_next() {
    let mut config = test_config();
    config.commit_delay_ms = 500;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "linger", "Ann").await;
    ann.send(&chat("said on the way out".into(), "bye".into())).await;
    ann.goodbye().await;
    // Bob comes while Ann's chat is still held in the commit: whether it reaches him in
    // the welcome or live, he gets it, numbered 1, and the room numbers on from there.
    let mut bob = connect(addr, "linger", "Bob").await;
    let mut seen: Vec<(u64, String)> = bob.history.iter().map(|c| (c.seq, c.text.clone())).collect();
    if seen.is_empty() {
        let (chat, _) = bob
            .recv_until(|m| match m {
                ServerMsg::Chat(chat) => Some((chat.seq, chat.text.clone())),
                _ => None,
            })
            .await;
        seen.push(chat);
    }
    assert_eq!(seen, [(1, "said on the way out".to_owned())]);
    bob.send(&chat("and after".into(), "b1".into())).await;
    assert_eq!(acked(&mut bob, "b1").await, 2);
}

/// Connections chatting into one room at once in the failed-commit test.
const SENDERS: usize = 4;
/// Chats each of them sends.
const CHATS_EACH: usize = 40;

/// What became of a chat the first time it was sent.
enum Outcome {
    Acked(u64),
    Refused(ErrorCode),
}

/// Reads until every ref in `refs` was acked or refused, checking on the way that the
/// chats this member is sent come in seq order, each once.
async fn outcomes(client: &mut Client, refs: &[String], last_seen: &mut u64) -> HashMap<String, Outcome> {
    let mut got = HashMap::new();
    while got.len() < refs.len() {
        let (reference, outcome) = match client.recv().await {
            ServerMsg::Ack { reference, seq } => (reference, Outcome::Acked(seq)),
            ServerMsg::Error { code, reference: Some(reference), .. } => (reference, Outcome::Refused(code)),
            ServerMsg::Chat(chat) => {
                assert!(chat.seq > *last_seen, "chat {} came after {}", chat.seq, *last_seen);
                *last_seen = chat.seq;
                continue;
            }
            _ => continue,
        };
        assert!(got.insert(reference, outcome).is_none(), "one answer per chat");
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_leaves_no_gap_and_hands_out_no_seq_twice() {
    let mut config = test_config();
    // Short holds, so the chats of all senders are queued behind one another in batches.
    config.commit_delay_ms = 5;
    let db_path = config.data_dir.join(DB_FILE);
    let addr = start_with(config).await;
    let mut senders =
        join_all((0..SENDERS).map(|i| async move { connect(addr, "failing", &format!("Sender-{i}")).await })).await;
    // The store refuses one chat, and with it the batch it is committed in.
    let db = rusqlite::Connection::open(&db_path).expect("open the server's store");
    db.execute_batch(
        "CREATE TRIGGER fail_me BEFORE INSERT ON chats WHEN NEW.text = 'fail me'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    )
    .expect("install the trigger");

    let text = |sender: usize, n: usize| {
        if (sender, n) == (0, CHATS_EACH / 4) {
            "fail me".to_owned()
        } else {
            format!("s{sender}-{n}")
        }
    };
    let refs: Vec<Vec<String>> = (0..SENDERS).map(|s| (0..CHATS_EACH).map(|n| format!("s{s}-{n}")).collect()).collect();
    let rounds = join_all(senders.iter_mut().enumerate().map(|(s, client)| {
        let refs = &refs[s];
        async move {
            for (n, reference) in refs.iter().enumerate() {
                client.send(&chat(text(s, n), reference.clone())).await;
            }
            let mut last_seen = 0;
            let got = outcomes(client, refs, &mut last_seen).await;
            (got, last_seen)
        }
    }))
    .await;

    let mut acked = Vec::new();
    let mut refused = vec![Vec::new(); SENDERS];
    for (s, (got, _)) in rounds.iter().enumerate() {
        for reference in &refs[s] {
            match got[reference] {
                Outcome::Acked(seq) => acked.push(seq),
                Outcome::Refused(code) => {
                    assert_eq!(code, ErrorCode::Unavailable, "{reference} was refused as retryable");
                    refused[s].push(reference.clone());
                }
            }
        }
    }
    assert!(refused[0].contains(&refs[0][CHATS_EACH / 4]), "the chat the store refused got an error");

    // Once the store takes everything again, each refused chat is sent again by its ref.
    db.execute_batch("DROP TRIGGER fail_me;").expect("drop the trigger");
    let retries = join_all(senders.iter_mut().zip(&refused).zip(&rounds).enumerate().map(
        |(s, ((client, refused), (_, last_seen)))| {
            let mut last_seen = *last_seen;
            async move {
                let mut seqs = Vec::new();
                for reference in refused {
                    let n: usize = reference.rsplit('-').next().and_then(|n| n.parse().ok()).expect("a ref's number");
                    client.send(&chat(text(s, n), reference.clone())).await;
                    match outcomes(client, std::slice::from_ref(reference), &mut last_seen).await.remove(reference) {
                        Some(Outcome::Acked(seq)) => seqs.push(seq),
                        _ => panic!("{reference} was stored when sent again"),
                    }
                }
                seqs
            }
        },
    ))
    .await;
    acked.extend(retries.into_iter().flatten());

    // Every chat holds one seq of 1..=n, none twice and none skipped, and history agrees.
    acked.sort_unstable();
    let total = (SENDERS * CHATS_EACH) as u64;
    assert_eq!(acked, (1..=total).collect::<Vec<_>>(), "acked seqs are 1..={total}, each once");
    let mut reader = connect(addr, "failing", "Reader").await;
    let (mut stored, mut after) = (Vec::new(), 0);
    loop {
        let (chats, more) = reader.page(Some(after), None, Some(MAX_PAGE_LEN)).await;
        after = chats.last().map_or(after, |c| c.seq);
        stored.extend(chats.into_iter().map(|c| (c.seq, c.text)));
        if !more {
            break;
        }
    }
    let seqs: Vec<u64> = stored.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "history holds every seq once");
    let texts: HashSet<&str> = stored.iter().map(|(_, text)| text.as_str()).collect();
    assert_eq!(texts.len(), SENDERS * CHATS_EACH, "every chat is stored once");
}
