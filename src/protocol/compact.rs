//! The opt-in compact encoding of `cursors` frames (`/ws?...&encoding=compact`).
//!
//! In a big room almost every byte the server sends is a cursor move, and in JSON a move
//! costs about 75 bytes (a quoted UUID and two shortest-round-trip floats). A client that
//! connects with `encoding=compact` gets its `cursors` frames as binary frames instead, at
//! 24 bytes a move; every other message stays the JSON text frame of the contract, and
//! what a client sends is JSON either way.
//!
//! Layout: one tag byte [`CURSORS_TAG`], then one 24-byte record per move: the user id's
//! 16 bytes, then `x` and `y` as little-endian IEEE 754 single-precision floats. Positions
//! are fractions of the board, so single precision (about 1e-7) is far finer than a pixel.

use super::Move;
use thiserror::Error;
use uuid::Uuid;

/// The first byte of a compact `cursors` frame.
pub const CURSORS_TAG: u8 = 1;
/// Bytes per move in a compact `cursors` frame.
pub const MOVE_BYTES: usize = 24;
/// The value of the `encoding` query parameter that asks for compact frames.
pub const ENCODING_COMPACT: &str = "compact";

/// Why a binary frame is not a compact `cursors` frame.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CompactError {
    #[error("an empty binary frame")]
    Empty,
    #[error("unknown binary frame tag {0}")]
    UnknownTag(u8),
    #[error("a cursors frame of {0} bytes is not a whole number of {MOVE_BYTES}-byte moves")]
    Truncated(usize),
}

/// One move's record, to be shared by every compact recipient: a frame is
/// [`CURSORS_TAG`] followed by records.
pub fn move_record(mv: &Move) -> [u8; MOVE_BYTES] {
    let mut record = [0u8; MOVE_BYTES];
    record[..16].copy_from_slice(mv.id.as_bytes());
    record[16..20].copy_from_slice(&(mv.x as f32).to_le_bytes());
    record[20..].copy_from_slice(&(mv.y as f32).to_le_bytes());
    record
}

/// Reads a compact `cursors` frame back into its moves.
pub fn decode_cursors(frame: &[u8]) -> Result<Vec<Move>, CompactError> {
    let (&tag, body) = frame.split_first().ok_or(CompactError::Empty)?;
    if tag != CURSORS_TAG {
        return Err(CompactError::UnknownTag(tag));
    }
    if body.len() % MOVE_BYTES != 0 {
        return Err(CompactError::Truncated(body.len()));
    }
    Ok(body
        .chunks_exact(MOVE_BYTES)
        .map(|record| {
            let float = |at: usize| f32::from_le_bytes([record[at], record[at + 1], record[at + 2], record[at + 3]]);
            let mut id = [0u8; 16];
            id.copy_from_slice(&record[..16]);
            Move { id: Uuid::from_bytes(id), x: f64::from(float(16)), y: f64::from(float(20)) }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(moves: &[Move]) -> Vec<u8> {
        let mut frame = vec![CURSORS_TAG];
        moves.iter().for_each(|mv| frame.extend_from_slice(&move_record(mv)));
        frame
    }

    #[test]
    fn moves_round_trip_at_single_precision() {
        let moves = [
            Move { id: Uuid::from_bytes([7; 16]), x: 0.25, y: 1.0 },
            Move { id: Uuid::from_bytes([9; 16]), x: 12345.0 / (1u64 << 20) as f64, y: 0.0 },
        ];
        let frame = frame_of(&moves);
        assert_eq!(frame.len(), 1 + 2 * MOVE_BYTES);
        assert_eq!(frame[1..17], [7; 16], "the id comes first");
        assert_eq!(frame[17..21], 0.25f32.to_le_bytes(), "then x as a little-endian f32");
        assert_eq!(decode_cursors(&frame).unwrap(), moves);
        let third = Move { id: Uuid::from_bytes([1; 16]), x: 1.0 / 3.0, y: 0.5 };
        let back = decode_cursors(&frame_of(&[third])).unwrap()[0];
        assert!((back.x - third.x).abs() < 1e-7);
    }

    #[test]
    fn malformed_frames_are_named() {
        assert_eq!(decode_cursors(&[]), Err(CompactError::Empty));
        assert_eq!(decode_cursors(&[2, 0]), Err(CompactError::UnknownTag(2)));
        assert_eq!(decode_cursors(&[CURSORS_TAG, 0, 0]), Err(CompactError::Truncated(2)));
        assert_eq!(decode_cursors(&[CURSORS_TAG]), Ok(vec![]));
    }
}
