//! Signing through ssh-agent natively: one `SSH_AGENTC_SIGN_REQUEST` over the agent's
//! socket (draft-miller-ssh-agent), so an agent-held key costs a round trip, not a
//! process.
//!
//! Invariants: the socket has read and write timeouts ([`AGENT_TIMEOUT`]), a reply is
//! capped at [`MAX_REPLY`] bytes before it is read, and any failure is an error the
//! caller may answer by falling back to `ssh-keygen`; nothing here prompts.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long the agent may take to answer (an `ssh-add -c` confirmation included).
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_REPLY: u32 = 64 * 1024;
const SIGN_REQUEST: u8 = 13;
const SIGN_RESPONSE: u8 = 14;
const FAILURE: u8 = 5;
/// `SSH_AGENT_RSA_SHA2_512`: OpenSSH signs SSHSIG with rsa-sha2-512.
const RSA_SHA2_512: u32 = 4;

/// Why the agent did not sign.
#[derive(Debug)]
pub enum AgentError {
    /// The agent answered: it will not sign with this key (it does not hold it, or
    /// a confirmation was refused).
    Refused,
    /// Talking to it failed.
    Io(String),
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), AgentError> {
    let len = u32::try_from(bytes.len()).map_err(|_| AgentError::Io("request too large".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Asks the agent at `sock` to sign `data` with the key whose wire blob is
/// `key_blob`; returns the signature blob.
pub fn sign(sock: &Path, key_blob: &[u8], data: &[u8], rsa: bool) -> Result<Vec<u8>, AgentError> {
    let io = |e: std::io::Error| AgentError::Io(e.to_string());
    let mut stream = UnixStream::connect(sock).map_err(io)?;
    stream.set_read_timeout(Some(AGENT_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(AGENT_TIMEOUT)).map_err(io)?;
    let mut body = vec![SIGN_REQUEST];
    put_string(&mut body, key_blob)?;
    put_string(&mut body, data)?;
    body.extend_from_slice(&(if rsa { RSA_SHA2_512 } else { 0 }).to_be_bytes());
    let mut msg = Vec::with_capacity(body.len() + 4);
    put_string(&mut msg, &body)?;
    stream.write_all(&msg).map_err(io)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(io)?;
    let len = u32::from_be_bytes(len);
    if len == 0 || len > MAX_REPLY {
        return Err(AgentError::Io(format!("reply of {len} bytes")));
    }
    let mut reply = vec![0u8; len as usize];
    stream.read_exact(&mut reply).map_err(io)?;
    match reply[0] {
        SIGN_RESPONSE => {
            let rest = &reply[1..];
            let n = rest
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or_else(|| AgentError::Io("short reply".into()))?;
            rest.get(4..4 + n)
                .filter(|_| rest.len() == 4 + n)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| AgentError::Io("malformed reply".into()))
        }
        FAILURE => Err(AgentError::Refused),
        other => Err(AgentError::Io(format!("unexpected reply type {other}"))),
    }
}
