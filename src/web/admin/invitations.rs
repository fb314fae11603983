//! `/admin/invitations`: the customer invitations table, the form that creates one, and the
//! rows' *Resend* and *Revoke* buttons.

use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{
    AdminState, CustomerForm, Notice, Operator, UnreadableView, act, engine_for, redirect,
    stage_name, unreadable_view,
};
use crate::Onboarding;
use crate::engine::TenantAccess;
use crate::error::{Action, Error, FlowError};
use crate::journey::{AnyOnboarding, Revocable, StageKind};
use crate::model::NewCustomer;
use crate::model::{CustomerId, JourneyId, Method};
use crate::ports::{Filter, Unreadable};
use crate::web::csrf::{CsrfForm, CsrfToken};
use crate::web::{WebError, show_time};

#[derive(Serialize)]
struct InvitationView {
    customer: String,
    /// The method switch's journey id, for a switch's row.
    switch: Option<String>,
    tenant: String,
    admin_email: String,
    stage: String,
    email_sent: bool,
    device_authenticated: bool,
    created: String,
    expires: String,
    can_resend: bool,
    can_revoke: bool,
}

fn invitation_view(journey: &AnyOnboarding) -> InvitationView {
    let c = journey.customer();
    let kind = journey.kind();
    InvitationView {
        customer: c.id.to_string(),
        switch: journey.switch_journey().map(ToString::to_string),
        tenant: c.tenant.to_string(),
        admin_email: c.admin_email.to_string(),
        stage: stage_name(kind),
        email_sent: c.invitation.as_ref().is_some_and(|i| i.delivery.is_some()),
        device_authenticated: c.device_authenticated_at.is_some(),
        created: show_time(Some(c.created_at)),
        expires: show_time(c.invitation.as_ref().map(|i| i.expires_at)),
        can_resend: kind.can_resend_invitation(),
        // A method switch is cancelled on the status page, not revoked.
        can_revoke: kind != StageKind::Revoked && !journey.is_switch(),
    }
}

/// Every journey, a page of the store at a time ([`TenantAccess::pages`]): each customer's
/// own, and the method switch under way beside it; and the customers whose records cannot be
/// read.
async fn all_journeys(ta: &TenantAccess) -> Result<(Vec<AnyOnboarding>, Vec<Unreadable>), Error> {
    let mut all = Vec::new();
    let mut pages = ta.pages(Filter::all(), 500);
    while let Some(journeys) = pages.next_page().await? {
        for journey in journeys {
            let switching = journey.pending_switch().is_some();
            let id = journey.id().clone();
            all.push(journey);
            if switching {
                all.extend(ta.pending_switch(&id).await?);
            }
        }
    }
    Ok((all, pages.take_unreadable()))
}

#[derive(Deserialize, Serialize, Default)]
pub(super) struct NewInvitation {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    admin_email: String,
}

async fn render_invitations(
    state: &AdminState,
    csrf: &str,
    operator: &Operator,
    notice: Option<String>,
    form: NewInvitation,
    form_error: Option<String>,
) -> Response {
    let web = &state.web;
    let (journeys, unreadable) = match all_journeys(&web.engine).await {
        Ok(all) => all,
        Err(error) => return web.error_page(&WebError::Engine(error), Some(csrf)),
    };
    let rows: Vec<InvitationView> = journeys
        .iter()
        .filter(|j| j.customer().method == Method::DeviceCode)
        .map(invitation_view)
        .collect();
    let unreadable: Vec<UnreadableView> = unreadable.iter().map(unreadable_view).collect();
    let status = if form_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    web.render(
        status,
        "admin_invitations.html",
        minijinja::context! {
            csrf, operator => operator.name(), rows, unreadable, notice, form, form_error,
            section => "invitations",
        },
    )
}

/// `GET /admin/invitations`.
pub(super) async fn invitations_page(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    Query(notice): Query<Notice>,
) -> Response {
    render_invitations(
        &state,
        &csrf.0,
        &operator,
        notice.text(),
        NewInvitation::default(),
        None,
    )
    .await
}

/// `POST /admin/invitations`: creates the customer and mails the invitation.
pub(super) async fn create(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(form): CsrfForm<NewInvitation>,
) -> Response {
    let ta = engine_for(&state.web, &operator);
    let new = match NewCustomer::new(
        form.customer.trim(),
        form.tenant.trim(),
        form.admin_email.trim(),
    ) {
        Ok(new) => new,
        Err(error) => {
            let message = format!("Not created: the {error}.");
            return render_invitations(&state, &csrf.0, &operator, None, form, Some(message)).await;
        }
    };
    let id = new.id.clone();
    let sent = async {
        let invited = ta.invite(new).await?;
        invited.send(&ta).await?;
        Ok::<_, Error>(())
    };
    match sent.await {
        Ok(()) => redirect(&state.web, "/admin/invitations", "invited", &id),
        Err(Error::Store(crate::error::StoreError::AlreadyExists(_))) => {
            let message =
                format!("Not created: a customer with the id \u{201c}{id}\u{201d} exists already.");
            render_invitations(&state, &csrf.0, &operator, None, form, Some(message)).await
        }
        // An unknown tenant (found at invitation time) is the operator's input to fix.
        Err(Error::Input(error)) => {
            let message = format!("Not created: the {error}.");
            render_invitations(&state, &csrf.0, &operator, None, form, Some(message)).await
        }
        Err(error) => state
            .web
            .error_page(&WebError::Engine(error), Some(&csrf.0)),
    }
}

async fn load(ta: &TenantAccess, id: &CustomerId) -> Result<AnyOnboarding, WebError> {
    match ta.load(id).await {
        Ok(journey) => Ok(journey),
        Err(error) if error.action() == Action::NotFound => Err(WebError::NotFound),
        Err(error) => Err(error.into()),
    }
}

/// What the invitation table's row buttons do.
#[derive(Clone, Copy)]
enum RowAction {
    Resend,
    Revoke,
}

/// `POST /admin/invitations/resend`: a new link (the old one stops working).
pub(super) async fn resend(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(form): CsrfForm<CustomerForm>,
) -> Response {
    row_action(&state, &csrf, &operator, &form, RowAction::Resend).await
}

/// `POST /admin/invitations/revoke`.
pub(super) async fn revoke(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(form): CsrfForm<CustomerForm>,
) -> Response {
    row_action(&state, &csrf, &operator, &form, RowAction::Revoke).await
}

async fn row_action(
    state: &AdminState,
    csrf: &CsrfToken,
    operator: &Operator,
    form: &CustomerForm,
    action: RowAction,
) -> Response {
    act(
        state,
        csrf,
        operator,
        "/admin/invitations",
        |ta| async move {
            let id = form.id()?;
            let switch = form.switch()?;
            let done = match action {
                RowAction::Resend => {
                    resend_invitation(&ta, &id, switch.as_ref()).await?;
                    "resent"
                }
                RowAction::Revoke => {
                    revoke_journey(&ta, load(&ta, &id).await?).await?;
                    "revoked"
                }
            };
            Ok((id, done))
        },
    )
    .await
}

/// Mails a new link from wherever the journey waits for the customer; starts over from an
/// expired invitation or a dead refresh token ([`TenantAccess::resend_invitation`]).
async fn resend_invitation(
    ta: &TenantAccess,
    id: &CustomerId,
    switch: Option<&JourneyId>,
) -> Result<(), WebError> {
    let resent = match switch {
        None => ta.resend_invitation(id).await,
        Some(switch) => ta.resend_switch_invitation(id, switch).await,
    };
    match resent {
        Ok(_) => Ok(()),
        Err(error) if error.action() == Action::NotFound => Err(WebError::NotFound),
        Err(Error::Flow(FlowError::NothingToResend { customer, stage })) => {
            Err(WebError::WrongStage(format!(
                "{customer} is in the stage \u{201c}{}\u{201d}: there is no invitation to resend.",
                stage_name(stage)
            )))
        }
        Err(error) => Err(error.into()),
    }
}

async fn revoke_journey(ta: &TenantAccess, journey: AnyOnboarding) -> Result<(), WebError> {
    let revoked = match journey {
        AnyOnboarding::Invited(o) => revoke_one(ta, o).await,
        AnyOnboarding::InvitationSent(o) => revoke_one(ta, o).await,
        AnyOnboarding::Claimed(o) => revoke_one(ta, o).await,
        AnyOnboarding::DeviceCodeIssued(o) => revoke_one(ta, o).await,
        AnyOnboarding::BrowserSignIn(o) => revoke_one(ta, o).await,
        AnyOnboarding::ApprovalRequested(o) => revoke_one(ta, o).await,
        AnyOnboarding::ConsentRequired(o) => revoke_one(ta, o).await,
        AnyOnboarding::TokenAcquired(o) => revoke_one(ta, o).await,
        AnyOnboarding::Validated(o) => revoke_one(ta, o).await,
        AnyOnboarding::ReauthRequired(o) => revoke_one(ta, o).await,
        AnyOnboarding::Expired(o) => revoke_one(ta, o).await,
        other => {
            return Err(WebError::WrongStage(format!(
                "{} is in the stage \u{201c}{}\u{201d} and cannot be revoked.",
                other.id(),
                stage_name(other.kind())
            )));
        }
    };
    Ok(revoked?)
}

async fn revoke_one<S: Revocable>(ta: &TenantAccess, o: Onboarding<S>) -> Result<(), Error> {
    o.revoke(ta).await?;
    Ok(())
}
