//! Who is calling.
//!
//! Every handler but login receives a [`Caller`]. Until users and tokens are configured the
//! server acts for one default user (`hadoop`, as a fresh Linkis does); the ownership checks
//! in the handlers already compare that user against each job's owner.

use rouille::Request;

use super::message::ApiError;
use super::Context;

/// The authenticated user of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: String,
    /// Admins may see and control every user's jobs.
    pub admin: bool,
    /// A token whose code contains `ADMIN-`: may submit jobs for another `executeUser`.
    pub admin_token: bool,
}

impl Caller {
    /// Whether this caller may see and control a job run by `owner`.
    pub fn may_access(&self, owner: &str) -> bool {
        self.admin || self.user == owner
    }
}

/// Identifies the caller of `request`.
pub fn authenticate(context: &Context, _request: &Request) -> Result<Caller, ApiError> {
    Ok(Caller { user: context.config.default_user.clone(), admin: true, admin_token: false })
}
