//! A UDP socket for QUIC made of plain datagrams, for a Winsock that refuses quinn-udp's.
//!
//! quinn-udp (0.5.16, the one quinn 0.11 takes) prepares every Windows socket by asking for
//! `IPV6_V6ONLY`, even on an IPv4 socket, and by turning on `IP_PKTINFO` and `IP_RECVECN`; any
//! refusal fails the socket. Wine 8 answers the first with `STATUS_NOT_SUPPORTED` (seen in
//! `WINEDEBUG=+winsock`: `getsockopt … IPV6_V6ONLY` then `server_getsockopt status
//! 0xc00000bb`, error 10045, WSAEOPNOTSUPP) and implements no ECN option. quinn-udp 0.6
//! tolerates the missing ECN options but still asks for `IPV6_V6ONLY` first, and quinn 0.11
//! cannot take it. Where that happens the agent falls back to this socket: one datagram per
//! send and per receive, no ECN marks, no source-address control messages, which a client
//! with one connection to one collector does not need. Real Windows keeps quinn-udp.

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

/// Whether `e`, from opening a quinn endpoint, is Winsock refusing a socket option
/// (WSAEOPNOTSUPP, WSAENOPROTOOPT) rather than, say, no network at all.
pub(crate) fn refused_socket_option(e: &io::Error) -> bool {
    const WSAENOPROTOOPT: i32 = 10042;
    const WSAEOPNOTSUPP: i32 = 10045;
    matches!(e.raw_os_error(), Some(WSAENOPROTOOPT | WSAEOPNOTSUPP))
}

/// A client endpoint bound to `bind` on a plain UDP socket.
pub(crate) fn client_endpoint(bind: SocketAddr) -> io::Result<quinn::Endpoint> {
    let socket = std::net::UdpSocket::bind(bind)?;
    socket.set_nonblocking(true)?;
    let socket = Arc::new(PlainUdp { io: tokio::net::UdpSocket::from_std(socket)? });
    quinn::Endpoint::new_with_abstract_socket(
        quinn::EndpointConfig::default(),
        None,
        socket,
        Arc::new(quinn::TokioRuntime),
    )
}

#[derive(Debug)]
struct PlainUdp {
    io: tokio::net::UdpSocket,
}

/// Wakes quinn when the socket can send again.
#[derive(Debug)]
struct Writable(Arc<PlainUdp>);

impl UdpPoller for Writable {
    fn poll_writable(self: Pin<&mut Self>, cx: &mut Context) -> Poll<io::Result<()>> {
        self.0.io.poll_send_ready(cx)
    }
}

impl AsyncUdpSocket for PlainUdp {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(Writable(self))
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        // One segment per transmit (`max_transmit_segments` is 1), so the contents are one
        // datagram.
        self.io.try_send_to(transmit.contents, transmit.destination).map(drop)
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let (Some(buf), Some(slot)) = (bufs.first_mut(), meta.first_mut()) else { return Poll::Ready(Ok(0)) };
        loop {
            ready!(self.io.poll_recv_ready(cx))?;
            match self.io.try_recv_from(buf) {
                Ok((len, addr)) => {
                    *slot = RecvMeta { addr, len, stride: len, ecn: None, dst_ip: None };
                    return Poll::Ready(Ok(1));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }
}
