//! `/admin/switch`: *Switch method* (the old connection serves until the new one is
//! validated), the pending switch's admin-consent link, and cancelling a switch.

use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{AdminState, CustomerForm, Operator, act, engine_for, stage_name};
use crate::error::Error;
use crate::journey::AnyOnboarding;
use crate::model::{AppCredential, ClientCertificate, ClientSecret, Password};
use crate::model::{CustomerId, EmailAddress, Method};
use crate::web::WebError;
use crate::web::csrf::{CsrfForm, CsrfToken};

/// The *Switch method* form.
#[derive(Deserialize)]
pub(super) struct SwitchForm {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    admin_email: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    /// The secret's end date (`YYYY-MM-DD`), optional.
    #[serde(default)]
    secret_expires: String,
    /// A certificate (PEM) and its PKCS#8 private key (PEM), instead of a secret.
    #[serde(default)]
    certificate_pem: String,
    #[serde(default)]
    private_key_pem: String,
}

impl SwitchForm {
    /// The app registration's credential: the certificate when one is given, else the
    /// secret (with its end date when given).
    fn app_credential(&self) -> Result<AppCredential, WebError> {
        if !self.certificate_pem.trim().is_empty() {
            if !self.client_secret.is_empty() {
                return Err(WebError::Input(
                    "Give a client secret or a certificate, not both.".into(),
                ));
            }
            let certificate =
                ClientCertificate::from_pem(&self.certificate_pem, &self.private_key_pem)
                    .map_err(|e| WebError::Input(format!("The {e}.")))?;
            return Ok(certificate.into());
        }
        let secret = ClientSecret::new(self.client_secret.clone());
        match self.secret_expires.trim() {
            "" => Ok(AppCredential::secret(secret)),
            date => {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                let day = time::Date::parse(date, &format).map_err(|_| {
                    WebError::Input(format!(
                        "The secret's end date {date:?} is not a date (YYYY-MM-DD)."
                    ))
                })?;
                Ok(AppCredential::secret_expiring(
                    secret,
                    day.midnight().assume_utc(),
                ))
            }
        }
    }
}

/// `POST /admin/switch`: starts switching a customer to another method; the old connection
/// keeps serving until the new one is validated.
pub(super) async fn switch(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(form): CsrfForm<SwitchForm>,
) -> Response {
    act(&state, &csrf, &operator, "/admin", |ta| async move {
        let id = CustomerId::new(form.customer.as_str())
            .map_err(|e| WebError::Input(format!("The {e}.")))?;
        let done = match Method::parse(form.method.as_str()) {
            Some(Method::DeviceCode) => {
                let email = match form.admin_email.trim() {
                    "" => None,
                    email => Some(
                        EmailAddress::new(email)
                            .map_err(|e| WebError::Input(format!("The {e}.")))?,
                    ),
                };
                let invited = ta.switch_to_device_code(&id, email).await?;
                invited.send(&ta).await.map_err(Error::from)?;
                "switch-invited"
            }
            Some(Method::Password) => {
                ta.switch_to_password(
                    &id,
                    form.username.trim(),
                    Password::new(form.password.clone()),
                )
                .await?;
                "switch-consent"
            }
            Some(Method::AppRegistration) => {
                ta.switch_to_app_registration(&id, form.client_id.trim(), form.app_credential()?)
                    .await?;
                "switch-consent"
            }
            _ => return Err(WebError::Input("Choose the method to switch to.".into())),
        };
        Ok((id, done))
    })
    .await
}

/// `GET /admin/switch/consent?customer=ID`: sends the operator's browser to the pending
/// switch's admin-consent page. The URL (its `state` included) is never written into a page.
/// A link, not a form: it changes nothing, and a form's redirect to another origin would be
/// blocked by the pages' `form-action 'self'`.
pub(super) async fn switch_consent(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    Query(form): Query<CustomerForm>,
) -> Response {
    let ta = engine_for(&state.web, &operator);
    let found = async {
        let id = form.id()?;
        match ta.pending_switch(&id).await? {
            Some(AnyOnboarding::ConsentRequired(pending)) => {
                Ok(pending.stage().admin_consent_url().to_string())
            }
            Some(other) => Err(WebError::WrongStage(format!(
                "The switch of {id} is in the stage \u{201c}{}\u{201d}, which needs no admin consent.",
                stage_name(other.kind())
            ))),
            None => Err(WebError::WrongStage(format!(
                "{id} has no method switch under way."
            ))),
        }
    };
    match found.await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(error) => state.web.error_page(&error, Some(&csrf.0)),
    }
}

/// `POST /admin/switch/cancel`: the switch journey goes; the old connection stays.
pub(super) async fn cancel_switch(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(form): CsrfForm<CustomerForm>,
) -> Response {
    act(&state, &csrf, &operator, "/admin", |ta| async move {
        let id = form.id()?;
        ta.cancel_switch(&id).await?;
        Ok((id, "switch-cancelled"))
    })
    .await
}
