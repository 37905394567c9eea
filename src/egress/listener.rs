//! The accept loop: one hyper HTTP/1 connection per client, requests
//! dispatched to the proxy (CONNECT, absolute URLs) or the gateway.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{JobEgress, proxy};
use crate::gateway::ResponseBody;

pub(crate) async fn serve(listener: TcpListener, job: Arc<JobEgress>, stop: CancellationToken) {
    // Connections live in the set: stopping the listener drops them all.
    let mut connections = JoinSet::new();
    let weak = Arc::downgrade(&job);
    drop(job);
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => a,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((stream, _)) = accepted else { continue };
        // Small writes (a response head, one SSE event) go out at once, not
        // after the peer's ACK of the previous one (Nagle).
        let _ = stream.set_nodelay(true);
        let Some(job) = weak.upgrade() else { break };
        connections.spawn(async move {
            let service = service_fn(move |req| dispatch(Arc::clone(&job), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let _ = conn.await;
        });
    }
}

async fn dispatch(job: Arc<JobEgress>, req: Request<Incoming>) -> Result<Response<ResponseBody>, Infallible> {
    let own = req.uri().authority().is_some_and(|a| {
        a.host().trim_start_matches('[').trim_end_matches(']') == job.addr().ip().to_string()
            && a.port_u16().unwrap_or(80) == job.addr().port()
    });
    if proxy::is_proxy_request(req.method(), req.uri()) && !own {
        if req.method() == http::Method::CONNECT {
            return Ok(proxy::connect(job, req).await);
        }
        return Ok(proxy::forward(job, req).await);
    }
    // The gateway, also when a client sent its request through the proxy
    // variables to the listener's own address.
    Ok(crate::gateway::handle(Arc::clone(&job.gateway), req).await)
}
