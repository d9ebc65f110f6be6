//! Tensors handed between the harness and its worker processes as raw bytes, not as JSON numbers: a model's
//! prepared inputs are encoded once and sent to every worker that measures the model, and each worker sends
//! its outputs back the same way. A 1×3×960×960 image is 11 MB here, against over 100 MB of JSON text that had
//! to be printed and parsed.
//!
//! Both go through the worker's standard input and output (a pipe: a full disk or a file-size limit cannot
//! stop them) as a frame: the JSON message's length (u64, little-endian), the message, then the tensors:
//! `HARNESS-TENSORS 1\n`, the header's length (u64), a JSON header listing each set of tensors (shape, element
//! type, where its bytes start and how many), and the bytes of every tensor, each starting on a 64-byte
//! boundary, in this machine's byte order (both ends are the same machine).

use anyhow::{bail, Context, Result};
use harness_backend_api::{ElementType, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

const MAGIC: &[u8] = b"HARNESS-TENSORS 1\n";
const ALIGNMENT: usize = 64;

#[derive(Serialize, Deserialize)]
struct Entry {
    shape: Vec<usize>,
    element_type: ElementType,
    /// From the start of the data, which follows the header.
    offset: usize,
    bytes: usize,
}

/// Sends a JSON message and its tensors.
pub fn send(out: &mut impl Write, message: &[u8], tensors: &[u8]) -> std::io::Result<()> {
    out.write_all(&(message.len() as u64).to_le_bytes())?;
    out.write_all(message)?;
    out.write_all(tensors)?;
    out.flush()
}

/// Receives what [`send`] sent: the JSON message and the encoded tensors.
pub fn receive(input: &mut impl Read) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut length = [0; 8];
    input.read_exact(&mut length).context("no message")?;
    let mut message = vec![0; u64::from_le_bytes(length) as usize];
    input
        .read_exact(&mut message)
        .context("the message is cut short")?;
    let mut tensors = Vec::new();
    input.read_to_end(&mut tensors)?;
    Ok((message, tensors))
}

/// Splits a frame received in one piece (a worker's whole output) into the message and the tensors.
pub fn split(frame: &[u8]) -> Result<(&[u8], &[u8])> {
    let (length, rest) = frame.split_first_chunk::<8>().context("no message")?;
    let length = u64::from_le_bytes(*length) as usize;
    if rest.len() < length {
        bail!("the message is cut short");
    }
    Ok(rest.split_at(length))
}

/// Encodes `sets` (each one set of a model's tensors, in order).
pub fn encode(sets: &[&[Tensor]]) -> Vec<u8> {
    let mut offset = 0;
    let header: Vec<Vec<Entry>> = sets
        .iter()
        .map(|set| {
            set.iter()
                .map(|tensor| {
                    let bytes = tensor.data.as_bytes().len();
                    let entry = Entry {
                        shape: tensor.shape.clone(),
                        element_type: tensor.element_type(),
                        offset,
                        bytes,
                    };
                    offset = (offset + bytes).next_multiple_of(ALIGNMENT);
                    entry
                })
                .collect()
        })
        .collect();
    let header = serde_json::to_vec(&header).expect("shapes and numbers serialise");
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + header.len() + offset);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    let data_start = out.len();
    for tensor in sets.iter().copied().flatten() {
        out.extend_from_slice(tensor.data.as_bytes());
        let end = (out.len() - data_start).next_multiple_of(ALIGNMENT);
        out.resize(data_start + end, 0);
    }
    out
}

/// Decodes what [`encode`] made.
pub fn decode(encoded: &[u8]) -> Result<Vec<Vec<Tensor>>> {
    let invalid = |why: &str| anyhow::anyhow!("not a set of tensors: {why}");
    let rest = encoded
        .strip_prefix(MAGIC)
        .ok_or_else(|| invalid("no header"))?;
    let (length, rest) = rest
        .split_first_chunk::<8>()
        .ok_or_else(|| invalid("cut short"))?;
    let length = u64::from_le_bytes(*length) as usize;
    if rest.len() < length {
        bail!(invalid("cut short in its header"));
    }
    let (header, data) = rest.split_at(length);
    let header: Vec<Vec<Entry>> =
        serde_json::from_slice(header).map_err(|e| invalid(&e.to_string()))?;
    header
        .into_iter()
        .map(|set| {
            set.into_iter()
                .map(|entry| {
                    let bytes = data
                        .get(entry.offset..entry.offset + entry.bytes)
                        .ok_or_else(|| invalid("cut short in its data"))?;
                    let data = TensorData::from_bytes(entry.element_type, bytes)
                        .ok_or_else(|| invalid("values that are not of their type"))?;
                    Tensor::new(entry.shape, data).map_err(|e| invalid(&e))
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tensor_comes_back_as_it_was_sent_bit_for_bit() {
        let sets = vec![
            vec![
                Tensor::new(
                    vec![1, 3],
                    TensorData::F32(vec![0.1, -0.0, f32::MIN_POSITIVE]),
                )
                .unwrap(),
                Tensor::new(vec![2], TensorData::U8(vec![0, 255])).unwrap(),
            ],
            vec![
                Tensor::new(vec![1, 3], TensorData::F32(vec![f32::NAN, 1e30, -2.5])).unwrap(),
                Tensor::new(vec![1], TensorData::I8(vec![-128])).unwrap(),
            ],
            vec![],
        ];
        let slices: Vec<&[Tensor]> = sets.iter().map(Vec::as_slice).collect();
        let mut pipe = Vec::new();
        send(&mut pipe, b"{\"job\":1}", &encode(&slices)).unwrap();
        let (message, tensors) = receive(&mut pipe.as_slice()).unwrap();
        assert_eq!(message, b"{\"job\":1}");
        assert_eq!(
            split(&pipe).unwrap(),
            (message.as_slice(), tensors.as_slice())
        );
        let back = decode(&tensors).unwrap();
        let bits = |sets: &[Vec<Tensor>]| -> Vec<Vec<u8>> {
            sets.iter()
                .flatten()
                .map(|t| t.data.as_bytes().to_vec())
                .collect()
        };
        assert_eq!(bits(&back), bits(&sets), "NaN and -0.0 included");
        assert_eq!(back[1][1], sets[1][1]);
        assert_eq!(back[2].len(), 0);
    }

    #[test]
    fn a_cut_frame_is_refused() {
        let tensor = Tensor::new(vec![4], TensorData::F32(vec![1.0; 4])).unwrap();
        let encoded = encode(&[std::slice::from_ref(&tensor)]);
        let err = decode(&encoded[..encoded.len() - 70])
            .unwrap_err()
            .to_string();
        assert!(err.contains("cut short"), "{err}");
        let mut pipe = Vec::new();
        send(&mut pipe, b"{}", &encoded).unwrap();
        assert!(split(&pipe[..5]).is_err());
        assert!(receive(&mut &pipe[..9]).is_err());
    }
}
