//! The hub's hot paths, measured apart from sockets: decoding a client frame, one
//! coalescing tick of a busy room (every mover's move put on the room's board, then the
//! `cursors` frame a recipient gets), and committing chats to the store (one alone, and 64 at
//! once as the writer groups them under load). Run with `cargo bench --features ssr`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flock::protocol::{decode_client_msg, ChatMessage, ChatTarget, Move};
use flock::server::cursor_board::{CursorBoard, Encoding};
use flock::server::outbox::Outbox;
use flock::server::store::writer::Write;
use flock::server::store::Store;
use std::hint::black_box;
use std::sync::Arc;
use uuid::Uuid;

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_client_msg");
    for (name, frame) in [
        ("cursor", r#"{"type":"cursor","x":0.4213,"y":0.1377}"#),
        ("chat", r#"{"type":"chat","text":"hello everyone, how are you today?","to":"room","ref":"a1b2c3d4-17"}"#),
        ("bad_json", r#"{"type":"cursor","x":0.4"#),
    ] {
        group.bench_function(name, |b| b.iter(|| decode_client_msg(black_box(frame))));
    }
    group.finish();
}

fn tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("cursor_tick");
    for movers in [30usize, 200, 500] {
        let moves: Vec<Move> =
            (0..movers).map(|i| Move { id: Uuid::new_v4(), x: i as f64 / movers as f64, y: 0.5 }).collect();
        group.throughput(Throughput::Elements(movers as u64));
        // One tick of a busy room as one recipient sees it: each mover's move serialized
        // once and put on the room's board (shared by every recipient), then the
        // recipient's writer takes one frame carrying all of them.
        for (name, encoding) in [("json", Encoding::Json), ("compact", Encoding::Compact)] {
            group.bench_with_input(BenchmarkId::new(name, movers), &moves, |b, moves| {
                let board = Arc::new(CursorBoard::default());
                let outbox = Outbox::new(1024, 1 << 20, encoding);
                outbox.follow(board.clone(), Uuid::nil());
                let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
                b.iter(|| {
                    for mv in moves {
                        board.put(mv);
                    }
                    let batch = runtime.block_on(outbox.next_batch());
                    black_box(batch.frames.len())
                });
            });
        }
    }
    group.finish();
}

fn store(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(dir.path(), 1000, std::time::Duration::from_secs(30 * 24 * 3600)).expect("open the store");
    let from = Uuid::new_v4();
    let mut seq = 0u64;
    let chat = |seq: u64| ChatMessage {
        seq,
        from,
        username: "bench".into(),
        text: "hello everyone, how are you today?".into(),
        to: ChatTarget::Room,
        ts: seq,
        server: false,
    };
    // One chat queued and waited for alone: a batch of one, the writer's worst case.
    c.bench_function("store_append", |b| {
        b.iter(|| {
            seq += 1;
            store.append("bench", &chat(seq), None).expect("append");
        })
    });
    // 64 chats queued at once and committed together, as under load (pruned every 64).
    c.bench_function("store_batch_of_64", |b| {
        b.iter(|| {
            for _ in 0..64 {
                seq += 1;
                let write = Write::Chat { room: "bench".into(), msg: chat(seq), reference: None, generation: None };
                store.submit(write, None).expect("queued");
            }
            store.flush().expect("committed");
        })
    });
}

criterion_group!(benches, decode, tick, store);
criterion_main!(benches);
