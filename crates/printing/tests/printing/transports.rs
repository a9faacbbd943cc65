//! Transports and real-time status, with no hardware: a pty pair for serial, a fake printer
//! on 127.0.0.1 for TCP, a temp file for the device transport.

use super::support::fake_printer::{Behaviour, FakePrinter};
use super::support::wait_for;
use pos_printing::status::{BYTES_COVER_OPEN, BYTES_PAPER_NEAR_END, BYTES_PAPER_OUT};
use pos_printing::{
    query_status, render_escpos, samples, Connector, DeviceConfig, Document, FlowControl, Paper,
    PrintError, PrinterProfile, PrinterStatus, SerialConfig, TcpConfig,
};
use serialport::SerialPort;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn receipt_bytes() -> Vec<u8> {
    let p = PrinterProfile::new(Paper::Mm80, 48, "PC858").unwrap();
    render_escpos(&Document::Sale(samples::sale_receipt(30)), &p).unwrap()
}

#[test]
fn serial_pty_pair_carries_a_real_job_byte_for_byte() {
    let (mut master, slave) = serialport::TTYPort::pair().expect("pty pair");
    let path = slave.name().expect("slave name");
    let job = receipt_bytes();
    let expected = job.len();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        master.set_timeout(Duration::from_millis(100)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < expected && Instant::now() < deadline {
            match master.read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("master read: {e}"),
            }
        }
        // The master goes back with the bytes, so it stays open until joined: on a busy machine
        // the reader could otherwise finish and close it before the writer's flush (tcdrain),
        // which then fails with EIO.
        (got, master)
    });
    let cfg = SerialConfig::new(path, 115_200, FlowControl::None);
    let mut t = cfg.connect().expect("open pty slave");
    t.write_all(&job).unwrap();
    t.flush().unwrap();
    let (got, _master) = reader.join().unwrap();
    assert_eq!(got.len(), job.len());
    assert!(got == job, "bytes differ");
    drop(slave);
}

#[test]
fn serial_status_is_read_back_over_the_pty() {
    let (mut master, slave) = serialport::TTYPort::pair().expect("pty pair");
    let path = slave.name().expect("slave name");
    let printer = std::thread::spawn(move || {
        master.set_timeout(Duration::from_secs(5)).unwrap();
        for answer in BYTES_PAPER_NEAR_END {
            let mut req = [0u8; 3];
            master.read_exact(&mut req).unwrap();
            assert_eq!(&req[..2], &[0x10, 0x04]);
            master.write_all(&[answer]).unwrap();
        }
        master // kept open until joined: a closed master makes the slave read fail
    });
    let mut t = SerialConfig::new(path, 9600, FlowControl::None)
        .connect()
        .unwrap();
    let s = query_status(t.as_mut(), Duration::from_secs(2)).unwrap();
    let _master = printer.join().unwrap();
    match s {
        PrinterStatus::Known(f) => assert!(f.paper_near_end && f.online && !f.paper_out),
        other => panic!("{other:?}"),
    }
    drop(slave);
}

#[test]
fn serial_device_that_does_not_exist_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ttyUSB-missing");
    let started = Instant::now();
    let e = SerialConfig::new(path.display().to_string(), 9600, FlowControl::Hardware)
        .connect()
        .err()
        .expect("must fail");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(e, PrintError::Connect { .. }), "{e}");
    assert!(e.to_string().contains("ttyUSB-missing"), "{e}");
}

/// Regression: this test used to dial 10.255.255.1 to find a host that does not answer. Tests
/// may only talk to 127.0.0.1, so the silent host is made here: a listener that never accepts,
/// its accept queue filled, so that the kernel drops further SYNs and `connect` must time out.
#[test]
fn tcp_host_that_does_not_answer_gives_an_error_within_the_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queue = Vec::new();
    while queue.len() < 4096 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => queue.push(s),
            Err(_) => break, // the queue is full: the host no longer answers
        }
    }
    let cfg = TcpConfig::new("127.0.0.1")
        .port(addr.port())
        .timeouts(Duration::from_millis(300), Duration::from_millis(300));
    let started = Instant::now();
    match cfg.connect() {
        Err(e) => assert!(
            matches!(e, PrintError::Timeout { .. } | PrintError::Connect { .. }),
            "{e}"
        ),
        // Should the kernel still take the connection, the silent peer must read as unknown.
        Ok(mut t) => {
            let s = query_status(t.as_mut(), Duration::from_millis(300));
            assert!(!matches!(s, Ok(PrinterStatus::Known(_))), "{s:?}");
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    drop(listener);
}

#[test]
fn tcp_listener_that_never_accepts_gives_unknown_status_within_the_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut t = TcpConfig::new("127.0.0.1").port(port).connect().unwrap();
    let started = Instant::now();
    let s = query_status(t.as_mut(), Duration::from_millis(200)).unwrap();
    assert!(matches!(s, PrinterStatus::Unknown { .. }), "{s:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn tcp_write_to_printer_that_stops_reading_times_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut t = TcpConfig::new("127.0.0.1")
        .port(port)
        .timeouts(Duration::from_secs(1), Duration::from_millis(300))
        .connect()
        .unwrap();
    // Far more than the kernel buffers on both sides can hold.
    let big = vec![b'x'; 64 << 20];
    let started = Instant::now();
    let e = t.write_all(&big).expect_err("write must time out");
    assert!(
        matches!(
            e,
            PrintError::Timeout {
                operation: "write",
                ..
            }
        ),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn tcp_refused_port_is_a_connect_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = TcpConfig::new("127.0.0.1")
        .port(port)
        .connect()
        .err()
        .expect("refused");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}

fn status_of(b: Behaviour) -> PrinterStatus {
    let printer = FakePrinter::start(vec![], b);
    let mut t = printer.tcp().connect().unwrap();
    query_status(t.as_mut(), Duration::from_millis(300)).unwrap()
}

#[test]
fn tcp_status_paper_out() {
    let s = status_of(Behaviour::status(BYTES_PAPER_OUT));
    assert!(matches!(s, PrinterStatus::Known(f) if f.paper_out && !f.online));
    assert_eq!(s.problem().as_deref(), Some("paper out"));
}

#[test]
fn tcp_status_cover_open() {
    let s = status_of(Behaviour::status(BYTES_COVER_OPEN));
    assert!(matches!(s, PrinterStatus::Known(f) if f.cover_open && !f.paper_out));
    assert_eq!(s.problem().as_deref(), Some("cover open"));
}

#[test]
fn tcp_status_no_answer_is_unknown_not_ok() {
    let started = Instant::now();
    let s = status_of(Behaviour::silent());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(s, PrinterStatus::Unknown { ref reason } if reason.contains("no answer")),
        "{s:?}"
    );
    assert!(!s.is_ready());
}

#[test]
fn tcp_job_reaches_the_printer_byte_for_byte() {
    let printer = FakePrinter::ready();
    let job = receipt_bytes();
    {
        let mut t = printer.tcp().connect().unwrap();
        t.write_all(&job).unwrap();
    }
    wait_for("job bytes", Duration::from_secs(5), || {
        (printer.connections().first().map(|c| c.len()) == Some(job.len())).then_some(())
    });
    assert!(printer.connections()[0] == job);
}

#[test]
fn device_file_receives_the_job_and_reports_unknown_status() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lp0");
    std::fs::write(&path, b"").unwrap();
    let job = receipt_bytes();
    let mut t = DeviceConfig::new(&path).connect().unwrap();
    t.write_all(&job).unwrap();
    t.flush().unwrap();
    assert!(std::fs::read(&path).unwrap() == job);
    let s = query_status(t.as_mut(), Duration::from_millis(50)).unwrap();
    assert!(matches!(s, PrinterStatus::Unknown { .. }));
}

#[test]
fn device_file_that_does_not_exist_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = DeviceConfig::new(dir.path().join("nope/lp9"))
        .connect()
        .err()
        .unwrap();
    assert!(e.to_string().starts_with("cannot open"), "{e}");
    assert!(e.to_string().contains("lp9"), "{e}");
}

#[test]
fn transport_config_parses_from_json() {
    let c: pos_printing::TransportConfig = serde_json::from_str(
        r#"{"kind":"serial","path":"/dev/ttyUSB0","baud":19200,"flow_control":"software"}"#,
    )
    .unwrap();
    assert_eq!(
        c,
        pos_printing::TransportConfig::Serial(SerialConfig::new(
            "/dev/ttyUSB0",
            19200,
            FlowControl::Software
        ))
    );
    let c: pos_printing::TransportConfig =
        serde_json::from_str(r#"{"kind":"tcp","host":"10.0.0.9","connect_timeout":500}"#).unwrap();
    match c {
        pos_printing::TransportConfig::Tcp(t) => {
            assert_eq!(t.port, 9100);
            assert_eq!(t.connect_timeout, Duration::from_millis(500));
        }
        other => panic!("{other:?}"),
    }
}
