//! Raw TCP ("JetDirect", port 9100) transport.

use super::{io_err, millis, Connector, Transport};
use crate::PrintError;
use serde::{Deserialize, Serialize};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A network printer on raw TCP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TcpConfig {
    /// Host name or IP address.
    pub host: String,
    /// Port, 9100 by default.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Connect timeout (ms in JSON), 3 s by default.
    #[serde(default = "default_connect", with = "millis")]
    #[cfg_attr(feature = "specta", specta(type = u64))]
    pub connect_timeout: Duration,
    /// Write timeout (ms in JSON), 10 s by default.
    #[serde(default = "default_write", with = "millis")]
    #[cfg_attr(feature = "specta", specta(type = u64))]
    pub write_timeout: Duration,
}

fn default_port() -> u16 {
    9100
}
fn default_connect() -> Duration {
    Duration::from_secs(3)
}
fn default_write() -> Duration {
    Duration::from_secs(10)
}

impl TcpConfig {
    /// `host` on port 9100 with the default timeouts.
    pub fn new(host: impl Into<String>) -> Self {
        TcpConfig {
            host: host.into(),
            port: default_port(),
            connect_timeout: default_connect(),
            write_timeout: default_write(),
        }
    }

    /// Sets the port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the connect and write timeouts.
    pub fn timeouts(mut self, connect: Duration, write: Duration) -> Self {
        self.connect_timeout = connect;
        self.write_timeout = write;
        self
    }

    fn target(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl Connector for TcpConfig {
    fn connect(&self) -> Result<Box<dyn Transport>, PrintError> {
        let target = self.target();
        let addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| PrintError::Connect {
                target: target.clone(),
                reason: e.to_string(),
            })?;
        let connect_timeout = self.connect_timeout.max(Duration::from_millis(1));
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, connect_timeout) {
                Ok(stream) => {
                    let write_timeout = self.write_timeout.max(Duration::from_millis(1));
                    stream
                        .set_write_timeout(Some(write_timeout))
                        .map_err(|e| io_err(&target, &e))?;
                    let _ = stream.set_nodelay(true);
                    return Ok(Box::new(TcpTransport {
                        stream,
                        target,
                        write_timeout,
                    }));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                PrintError::Timeout {
                    operation: "connect",
                    target,
                    after: connect_timeout,
                }
            }
            Some(e) => PrintError::Connect {
                target,
                reason: e.to_string(),
            },
            None => PrintError::Connect {
                target,
                reason: "host name resolved to no address".into(),
            },
        })
    }

    fn describe(&self) -> String {
        format!("tcp {}", self.target())
    }
}

/// An open TCP connection to a printer.
pub struct TcpTransport {
    stream: TcpStream,
    target: String,
    write_timeout: Duration,
}

impl Transport for TcpTransport {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), PrintError> {
        self.stream.write_all(bytes).map_err(|e| match e.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => PrintError::Timeout {
                operation: "write",
                target: self.target.clone(),
                after: self.write_timeout,
            },
            _ => io_err(&self.target, &e),
        })
    }

    fn read_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, PrintError> {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(|e| io_err(&self.target, &e))?;
        match self.stream.read(buf) {
            Ok(0) if !buf.is_empty() => Err(PrintError::Io {
                target: self.target.clone(),
                reason: "connection closed by printer".into(),
            }),
            Ok(n) => Ok(n),
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => Ok(0),
            Err(e) => Err(io_err(&self.target, &e)),
        }
    }

    fn flush(&mut self) -> Result<(), PrintError> {
        self.stream.flush().map_err(|e| io_err(&self.target, &e))
    }

    fn describe(&self) -> String {
        format!("tcp {}", self.target)
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
