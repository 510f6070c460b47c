//! `helper listening`: the TCP sockets that listen in the network namespace the helper runs in,
//! one `listen <ip:port>` line each. docker flow runs it with `--network container:<id>` when a
//! new instance fails its health gate, to say why the proxy cannot reach it: the app listens on
//! its loopback only, or on another port than the service port.
//!
//! `/proc/net/tcp` and `tcp6` are the kernel's tables of the reading process's network
//! namespace: nothing in the instance's image is needed (an image built `FROM scratch` has no
//! shell or `ss` to ask).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

use crate::protocol;

pub fn run(_args: &[String]) -> ExitCode {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            found.extend(listening(&text));
        }
    }
    for addr in found {
        print!("{}", protocol::listening::line(&addr));
    }
    ExitCode::SUCCESS
}

/// The listening sockets of one table (`/proc/net/tcp` or `tcp6`): state `0A`.
fn listening(table: &str) -> Vec<SocketAddr> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            if state != "0A" {
                return None;
            }
            let (ip, port) = local.split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            Some(SocketAddr::new(address(ip)?, port))
        })
        .collect()
}

/// An address as the kernel writes it: 32-bit words in hexadecimal, each in the machine's
/// byte order (little-endian on the engines docker flow runs on).
fn address(hex: &str) -> Option<IpAddr> {
    let words: Option<Vec<u32>> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect();
    let bytes: Vec<u8> = words?.iter().flat_map(|w| w.to_le_bytes()).collect();
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        16 => {
            let b: [u8; 16] = bytes.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_read_from_the_kernels_tables() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 00000000:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0200A8C0:1F90 0300A8C0:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
";
        assert_eq!(
            listening(tcp),
            [
                "127.0.0.1:8080".parse::<SocketAddr>().unwrap(),
                "0.0.0.0:3000".parse().unwrap()
            ]
        );
        let tcp6 = "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1
   1: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1
";
        assert_eq!(
            listening(tcp6),
            [
                "[::1]:8080".parse::<SocketAddr>().unwrap(),
                "[::]:80".parse().unwrap()
            ]
        );
        assert!(listening("header only\n").is_empty());
    }
}
