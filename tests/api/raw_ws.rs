//! A websocket client written frame by frame on a plain TCP socket, for what a well-behaved
//! client library will not do: flood without reading, send text frames that are not UTF-8.

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// RFC 6455 opcodes.
pub const TEXT: u8 = 0x1;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;

/// Any mask does; a client must mask every frame.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

pub struct RawWs {
    reader: BufReader<OwnedReadHalf>,
    /// Taken by a flood that writes from a task of its own.
    writer: Option<OwnedWriteHalf>,
}

/// One complete client frame (FIN set, masked) with `opcode` and `payload`.
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    fragment(true, opcode, payload)
}

/// A masked frame, the last of its message if `fin`.
pub fn fragment(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, byte)| byte ^ MASK[i % 4]));
    out
}

impl RawWs {
    /// Upgrades a fresh TCP connection to `/graphql` speaking `protocol`.
    pub async fn open(addr: SocketAddr, protocol: &str) -> Self {
        let stream = TcpStream::connect(addr).await.expect("tcp connects");
        let (reader, mut writer) = stream.into_split();
        let request = format!(
            "GET /graphql HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
        );
        writer.write_all(request.as_bytes()).await.expect("upgrade request written");
        let mut reader = BufReader::new(reader);
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(reader.read_u8().await.expect("upgrade response"));
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "upgraded: {head}");
        Self { reader, writer: Some(writer) }
    }

    /// Opens and initialises with `key`, expecting the ack.
    pub async fn connect(addr: SocketAddr, protocol: &str, key: &str) -> Self {
        let mut ws = Self::open(addr, protocol).await;
        let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } });
        ws.send(TEXT, init.to_string().as_bytes()).await;
        loop {
            let (opcode, payload) = ws.read_frame().await.expect("an answer to connection_init");
            assert_eq!(opcode, TEXT, "{payload:?}");
            let message: Value = serde_json::from_slice(&payload).expect("JSON");
            if message["type"] == "connection_ack" {
                return ws;
            }
        }
    }

    pub async fn send(&mut self, opcode: u8, payload: &[u8]) {
        self.send_raw(&frame(opcode, payload)).await;
    }

    /// Writes bytes as they are: frames, parts of frames.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let writer = self.writer.as_mut().expect("the writer is here");
        writer.write_all(bytes).await.expect("bytes written");
    }

    /// The sending half, for writing from another task; `send` cannot be used after.
    pub fn take_writer(&mut self) -> OwnedWriteHalf {
        self.writer.take().expect("the writer is here")
    }

    /// The next server frame (opcode, payload); None once the connection ended.
    pub async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let head = self.reader.read_u16().await.ok()?;
        let (opcode, len) = ((head >> 8) as u8 & 0x0f, head & 0x7f);
        assert_eq!(head & 0x80, 0, "server frames are not masked");
        let len = match len {
            126 => self.reader.read_u16().await.ok()? as usize,
            127 => self.reader.read_u64().await.ok()? as usize,
            len => len as usize,
        };
        let mut payload = vec![0; len];
        self.reader.read_exact(&mut payload).await.ok()?;
        Some((opcode, payload))
    }

    /// Reads past everything else to the server's close frame: its code, or None if the
    /// connection ended without one (or `wait` passed).
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        let read = async {
            loop {
                let (opcode, payload) = self.read_frame().await?;
                if opcode == CLOSE {
                    return payload.get(..2).map(|code| u16::from_be_bytes([code[0], code[1]]));
                }
            }
        };
        tokio::time::timeout(wait, read).await.ok().flatten()
    }
}
