//! Files in and out of a sandbox as tar streams over an exec's stdin/stdout
//! (`tar -x` / `tar -c` run as the sandbox user). Nothing goes on a command
//! line but paths, no shell is involved, and it works on the tmpfs mounts,
//! which Docker's archive API cannot see. Memory stays bounded: tar is
//! produced and consumed in 64 KiB chunks.

use std::io::{self, Read, Write};
use std::path::Path;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::container::Sandbox;
use super::internal::check_path;
use super::{SandboxError, WORKSPACE};

const CHUNK: usize = 64 * 1024;

/// A `Write` that hands full chunks to an async receiver.
struct ChannelWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Vec<u8>>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(chunk).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "receiver gone"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// A `Read` fed by an async sender.
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// An `AsyncWrite` that forwards into a channel (for the blocking unpacker).
struct ChannelSink(tokio_util::sync::PollSender<Vec<u8>>);

impl AsyncWrite for ChannelSink {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        let sender = &mut self.0;
        match sender.poll_reserve(cx) {
            std::task::Poll::Pending => std::task::Poll::Pending,
            std::task::Poll::Ready(Err(_)) => {
                std::task::Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "unpacker stopped")))
            }
            std::task::Poll::Ready(Ok(())) => {
                let n = data.len().min(CHUNK);
                let sent = sender.send_item(data[..n].to_vec());
                std::task::Poll::Ready(
                    sent.map(|_| n).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "unpacker stopped")),
                )
            }
        }
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        self.0.close();
        std::task::Poll::Ready(Ok(()))
    }
}

/// An in-memory `AsyncWrite` that refuses to grow past `limit`.
struct Capped {
    buf: Vec<u8>,
    limit: usize,
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        if self.buf.len() + data.len() > self.limit {
            let limit = self.limit;
            return std::task::Poll::Ready(Err(io::Error::other(format!("output larger than {limit} bytes"))));
        }
        self.buf.extend_from_slice(data);
        std::task::Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

fn split_parent(path: &str) -> Result<(String, String), SandboxError> {
    check_path(path)?;
    let trimmed = path.trim_end_matches('/');
    let (parent, base) = trimmed.rsplit_once('/').ok_or_else(|| SandboxError::InvalidPath(path.to_owned()))?;
    if base.is_empty() || base == "." {
        return Err(SandboxError::InvalidPath(path.to_owned()));
    }
    Ok((if parent.is_empty() { "/".to_owned() } else { parent.to_owned() }, base.to_owned()))
}

fn transfer_err(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Transfer(e.to_string())
}

impl Sandbox {
    /// Copies the host directory `src` (its contents, symlinks kept as
    /// symlinks, never followed) into `dest` inside the sandbox, creating it.
    pub async fn upload_dir(&self, src: &Path, dest: &str) -> Result<(), SandboxError> {
        check_path(dest)?;
        let src = src.to_owned();
        let (tx, rx) = mpsc::channel(8);
        let producer = tokio::task::spawn_blocking(move || -> io::Result<()> {
            let mut builder = tar::Builder::new(ChannelWriter { buf: Vec::with_capacity(CHUNK), tx });
            builder.follow_symlinks(false);
            builder.append_dir_all(".", &src)?;
            builder.into_inner()?.flush()
        });
        self.extract(dest, rx).await?;
        producer.await.map_err(transfer_err)?.map_err(transfer_err)
    }

    /// Extracts the tar stream `tar` into `dest` (created), e.g. `git
    /// archive` of the base commit piped straight in from the host.
    pub async fn upload_tar(
        &self,
        dest: &str,
        mut tar: impl AsyncRead + Unpin + Send + 'static,
    ) -> Result<(), SandboxError> {
        check_path(dest)?;
        let (tx, rx) = mpsc::channel::<Vec<u8>>(8);
        let pump = tokio::spawn(async move {
            loop {
                let mut chunk = vec![0u8; CHUNK];
                let n = tar.read(&mut chunk).await?;
                if n == 0 {
                    return Ok::<(), io::Error>(());
                }
                chunk.truncate(n);
                // The extractor stopped: its error is the one worth reporting.
                if tx.send(chunk).await.is_err() {
                    return Ok(());
                }
            }
        });
        let extracted = self.extract(dest, rx).await;
        let pumped = pump.await.map_err(transfer_err)?;
        extracted?;
        pumped.map_err(transfer_err)
    }

    /// Runs a Maxion-owned command as the sandbox user in `/workspace` and
    /// returns its stdout; more than `limit` bytes fails the transfer (the
    /// command's output is the agent's to inflate).
    pub async fn capture(&self, argv: Vec<String>, limit: usize) -> Result<Vec<u8>, SandboxError> {
        let mut out = Capped { buf: Vec::new(), limit };
        self.run_internal(argv, None, &mut out, self.settings.exec_timeout).await?;
        Ok(out.buf)
    }

    /// Writes `contents` to the file `dest` (parent directories created)
    /// with permission bits `mode`, e.g. the agent's prompt.
    pub async fn upload_file(&self, dest: &str, contents: &[u8], mode: u32) -> Result<(), SandboxError> {
        let (parent, base) = split_parent(dest)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(mode);
        header.set_mtime(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        );
        let mut builder = tar::Builder::new(Vec::with_capacity(contents.len() + 2048));
        builder.append_data(&mut header, &base, contents).map_err(transfer_err)?;
        let archive = builder.into_inner().map_err(transfer_err)?;
        let (tx, rx) = mpsc::channel(8);
        let feeder = async move {
            for chunk in archive.chunks(CHUNK) {
                if tx.send(chunk.to_vec()).await.is_err() {
                    break;
                }
            }
        };
        let (_, r) = tokio::join!(feeder, self.extract(&parent, rx));
        r
    }

    async fn extract(&self, dest: &str, rx: mpsc::Receiver<Vec<u8>>) -> Result<(), SandboxError> {
        let timeout = self.settings.exec_timeout;
        // The container's tmpfs mounts exist from its start; anything else
        // is made first (each exec costs a few Docker round trips).
        let mounted = [WORKSPACE, "/tmp", self.settings.home_dir.as_str()];
        if !mounted.contains(&dest.trim_end_matches('/')) {
            let mkdir = ["mkdir", "-p", "--", dest].map(str::to_owned).to_vec();
            self.run_internal(mkdir, None, &mut tokio::io::sink(), timeout).await?;
        }
        let untar = ["tar", "-x", "-f", "-", "-C", dest].map(str::to_owned).to_vec();
        self.run_internal(untar, Some(rx), &mut tokio::io::sink(), timeout).await
    }

    /// Streams `path` (a file or a directory) out of the sandbox as a tar
    /// archive whose entries are named relative to the path's parent.
    pub async fn download_tar(
        &self,
        path: &str,
        out: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<(), SandboxError> {
        let (parent, base) = split_parent(path)?;
        let argv = ["tar", "-c", "-f", "-", "-C", &parent, "--", &base].map(str::to_owned).to_vec();
        self.run_internal(argv, None, out, self.settings.exec_timeout).await?;
        out.shutdown().await.map_err(transfer_err)
    }

    /// Streams the listed paths (relative to `/workspace`; directories
    /// without their contents; missing ones skipped) out as a tar archive.
    /// The list travels as a file, never on a command line.
    pub async fn download_listed(
        &self,
        paths: &[String],
        out: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<(), SandboxError> {
        const LIST: &str = "/tmp/.maxion-download-list";
        let list: Vec<u8> = paths.iter().flat_map(|p| p.bytes().chain([0])).collect();
        self.upload_file(LIST, &list, 0o600).await?;
        let argv = ["tar", "-c", "-f", "-", "--null", "--no-recursion", "--ignore-failed-read", "-T", LIST];
        self.run_internal(argv.map(str::to_owned).to_vec(), None, out, self.settings.exec_timeout).await?;
        out.shutdown().await.map_err(transfer_err)
    }

    /// Downloads `path` into the host directory `dest` (which must exist):
    /// `/workspace/repo` arrives as `dest/repo`. Entries that would land
    /// outside `dest` are refused by the unpacker; permissions are not kept
    /// beyond the usual bits and ownership is never kept.
    pub async fn download_to_dir(&self, path: &str, dest: &Path) -> Result<(), SandboxError> {
        let (tx, rx) = mpsc::channel(8);
        let dest = dest.to_owned();
        let unpacker = tokio::task::spawn_blocking(move || -> io::Result<()> {
            let mut archive = tar::Archive::new(ChannelReader { rx, cur: Vec::new(), pos: 0 });
            archive.set_preserve_permissions(false);
            archive.set_preserve_ownerships(false);
            archive.set_unpack_xattrs(false);
            archive.set_overwrite(true);
            archive.unpack(&dest)?;
            // `unpack` stops at the end-of-archive marker, but `tar` may still
            // be writing record padding: keep reading to the end, or the
            // download would fail at random with "unpacker stopped".
            io::copy(&mut archive.into_inner(), &mut io::sink()).map(|_| ())
        });
        let mut sink = ChannelSink(tokio_util::sync::PollSender::new(tx));
        let downloaded = self.download_tar(path, &mut sink).await;
        drop(sink);
        let unpacked = unpacker.await.map_err(transfer_err)?;
        downloaded?;
        unpacked.map_err(transfer_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_parent_and_name() {
        assert_eq!(split_parent("/workspace/a.txt").unwrap(), ("/workspace".into(), "a.txt".into()));
        assert_eq!(split_parent("/workspace/").unwrap(), ("/".into(), "workspace".into()));
        assert!(split_parent("relative").is_err());
        assert!(split_parent("/workspace/../etc").is_err());
        assert!(split_parent("/").is_err());
    }
}
