//! The point of contact CERT-In is told of in every report: show it, its
//! earlier versions, set or confirm it.

use super::app_error;
use crate::{App, AppError, Caller, Operation};
use pramaan_core::time::now_ns;
use pramaan_desk::{PocEdit, PocRecord, PocView};
use serde::{Deserialize, Serialize};

/// `GET /api/v1/poc`: the current point of contact, with what is missing
/// and whether a review is due; 404 when none is set.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct ShowPoc {}

impl Operation for ShowPoc {
    type Output = PocView;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/poc";

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let desk = app.desk().desk()?;
        let settings = app.desk().settings()?;
        let p = desk.poc().map_err(app_error)?.ok_or_else(|| {
            AppError::Missing(
                "no point of contact is set (PUT /api/v1/poc, or pramaan poc set)".into(),
            )
        })?;
        Ok(p.view(settings.poc_review_days, now_ns()))
    }
}

/// `GET /api/v1/poc/history`: every version, oldest first (empty when none
/// was ever set).
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct PocHistory {}

impl Operation for PocHistory {
    type Output = Vec<PocRecord>;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/poc/history";

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        app.desk().desk()?.poc_history().map_err(app_error)
    }
}

/// `PUT /api/v1/poc`: set or change the details given, or confirm them
/// (`reviewed`). The body is the [`PocEdit`] itself.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(transparent)]
pub struct SetPoc(pub PocEdit);

impl Operation for SetPoc {
    type Output = PocView;
    const METHOD: &'static str = "PUT";
    const ROUTE: &'static str = "/api/v1/poc";

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let desk = app.desk().desk()?;
        let settings = app.desk().settings()?;
        let now = now_ns();
        let p = desk
            .set_poc(self.0, &who.name, now)
            .await
            .map_err(app_error)?;
        Ok(p.view(settings.poc_review_days, now))
    }
}
