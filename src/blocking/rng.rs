//! The masking-key source of std connections.

use core::convert::Infallible;
use rand::SeedableRng;
use rand::rngs::{StdRng, SysRng};

/// The masking-key source of std connections: a ChaCha-based CSPRNG seeded
/// from the operating system (a client's), or
/// nothing (a server's, which never masks).
#[derive(Debug)]
pub struct MaskRng(Option<StdRng>);

impl MaskRng {
    /// A CSPRNG seeded from the OS entropy source: the masking keys a
    /// client needs, for users of the core ([`Connection`](crate::Connection))
    /// or the embedded adapter on a machine with std.
    ///
    /// ```
    /// use wsock::blocking::MaskRng;
    /// use wsock::{Config, Connection, Outgoing};
    ///
    /// let mut client = Connection::client(Config::default(), MaskRng::from_os()?);
    /// let mut wire = [0u8; 64];
    /// let n = client.encode(Outgoing::Text("hi"), &mut wire).unwrap();
    /// assert_eq!(n, 2 + 4 + 2); // header, masking key, payload
    /// assert_eq!(wire[1] & 0x80, 0x80); // masked
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_os() -> std::io::Result<Self> {
        StdRng::try_from_rng(&mut SysRng)
            .map(|rng| MaskRng(Some(rng)))
            .map_err(|e| std::io::Error::other(std::format!("OS random source failed: {e}")))
    }

    /// For a server connection: never drawn from.
    pub(crate) fn none() -> Self {
        MaskRng(None)
    }
}

impl rand_core::TryRng for MaskRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0.as_mut().map_or(0, rand_core::Rng::next_u32))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.as_mut().map_or(0, rand_core::Rng::next_u64))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        match self.0.as_mut() {
            Some(rng) => rand_core::Rng::fill_bytes(rng, dst),
            None => dst.fill(0),
        }
        Ok(())
    }
}

// Only a client (seeded from the OS) ever draws from it.
impl rand_core::TryCryptoRng for MaskRng {}
