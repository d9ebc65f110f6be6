//! Tensors handed between the harness and its worker processes as raw bytes, not as JSON numbers: a model's
//! prepared inputs are encoded once and sent to every worker that measures the model, and each worker sends
//! its outputs back the same way. A 1×3×960×960 image is 11 MB here, against over 100 MB of JSON text that had
//! to be printed and parsed. Each tensor is read from the pipe straight into its own storage and written from
//! it: no whole-frame buffer on either side, which cost as much again as the pipe itself.
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
/// A message or header longer than this is not one (bytes from something else): refused before allocating.
const MAX_MESSAGE: u64 = 1 << 30;

#[derive(Serialize, Deserialize)]
struct Entry {
    shape: Vec<usize>,
    element_type: ElementType,
    /// From the start of the data, which follows the header.
    offset: usize,
    bytes: usize,
}

/// Sends a JSON message and tensors [`encode`] made earlier (a model's inputs, encoded once for every worker).
pub fn send_encoded(out: &mut impl Write, message: &[u8], tensors: &[u8]) -> std::io::Result<()> {
    write_message(out, message)?;
    out.write_all(tensors)?;
    out.flush()
}

/// Sends a JSON message and `sets`, each tensor's bytes written straight from its storage.
pub fn send(out: &mut impl Write, message: &[u8], sets: &[&[Tensor]]) -> std::io::Result<()> {
    write_message(out, message)?;
    write_tensors(out, sets)?;
    out.flush()
}

/// Receives what [`send`] or [`send_encoded`] sent: the JSON message, and the tensors read straight into their
/// storage as they arrive.
pub fn receive(input: &mut impl Read) -> Result<(Vec<u8>, Vec<Vec<Tensor>>)> {
    let mut message = vec![0; read_length(input).context("no message")?];
    input
        .read_exact(&mut message)
        .context("the message is cut short")?;
    Ok((message, read_tensors(input)?))
}

/// Encodes `sets` (each one set of a model's tensors, in order) for [`send_encoded`].
pub fn encode(sets: &[&[Tensor]]) -> Vec<u8> {
    let mut out = Vec::new();
    write_tensors(&mut out, sets).expect("writing to memory cannot fail");
    out
}

fn write_message(out: &mut impl Write, message: &[u8]) -> std::io::Result<()> {
    out.write_all(&(message.len() as u64).to_le_bytes())?;
    out.write_all(message)
}

fn write_tensors(out: &mut impl Write, sets: &[&[Tensor]]) -> std::io::Result<()> {
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
    out.write_all(MAGIC)?;
    out.write_all(&(header.len() as u64).to_le_bytes())?;
    out.write_all(&header)?;
    for tensor in sets.iter().copied().flatten() {
        let bytes = tensor.data.as_bytes();
        out.write_all(bytes)?;
        out.write_all(&[0; ALIGNMENT][..bytes.len().next_multiple_of(ALIGNMENT) - bytes.len()])?;
    }
    Ok(())
}

fn read_length(input: &mut impl Read) -> Result<usize> {
    let mut length = [0; 8];
    input.read_exact(&mut length).context("cut short")?;
    match u64::from_le_bytes(length) {
        length if length <= MAX_MESSAGE => Ok(length as usize),
        length => bail!("a length of {length} bytes"),
    }
}

fn read_tensors(input: &mut impl Read) -> Result<Vec<Vec<Tensor>>> {
    let invalid = |why: &str| anyhow::anyhow!("not a set of tensors: {why}");
    let mut magic = [0; MAGIC.len()];
    input
        .read_exact(&mut magic)
        .map_err(|_| invalid("no header"))?;
    if magic != MAGIC {
        bail!(invalid("no header"));
    }
    let mut header = vec![0; read_length(input).map_err(|e| invalid(&e.to_string()))?];
    input
        .read_exact(&mut header)
        .map_err(|_| invalid("cut short in its header"))?;
    let header: Vec<Vec<Entry>> =
        serde_json::from_slice(&header).map_err(|e| invalid(&e.to_string()))?;
    let mut position = 0;
    header
        .into_iter()
        .map(|set| {
            set.into_iter()
                .map(|entry| {
                    let padding = entry
                        .offset
                        .checked_sub(position)
                        .ok_or_else(|| invalid("overlapping tensors"))?;
                    std::io::copy(&mut input.take(padding as u64), &mut std::io::sink())?;
                    let size = entry.element_type.size();
                    if !entry.bytes.is_multiple_of(size) {
                        bail!(invalid("a tensor that is not a whole number of elements"));
                    }
                    let data = TensorData::read_from(entry.element_type, entry.bytes / size, input)
                        .map_err(|e| match e.kind() {
                            std::io::ErrorKind::UnexpectedEof => invalid("cut short in its data"),
                            _ => invalid(&e.to_string()),
                        })?;
                    position = entry.offset + entry.bytes;
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
        send_encoded(&mut pipe, b"{\"job\":1}", &encode(&slices)).unwrap();
        let (message, back) = receive(&mut pipe.as_slice()).unwrap();
        assert_eq!(message, b"{\"job\":1}");
        let mut streamed = Vec::new();
        send(&mut streamed, b"{\"job\":1}", &slices).unwrap();
        assert_eq!(streamed, pipe, "encoded once or streamed, the same bytes");
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
        let mut pipe = Vec::new();
        send(&mut pipe, b"{}", &[std::slice::from_ref(&tensor)]).unwrap();
        let err = receive(&mut &pipe[..pipe.len() - 60])
            .unwrap_err()
            .to_string();
        assert!(err.contains("cut short"), "{err}");
        assert!(receive(&mut &pipe[..5]).is_err());
        assert!(receive(&mut &pipe[..9]).is_err());
        let stray = b"engine 1.0 loaded\n";
        let err = receive(&mut [&stray[..], &pipe].concat().as_slice()).unwrap_err();
        assert!(format!("{err:#}").contains("a length of"), "{err:#}");
    }
}
