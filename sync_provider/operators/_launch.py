"""What the operators share: argument checks and error conversion, and the launch operators' mixin.

:class:`LaunchMixin` is what ``SyncEmrCreateJobFlowOperator`` and
``SyncDatabricksSubmitRunOperator`` have in common: applying a prediction (with the cross-platform
check), the code fingerprint check and save, and ending a try that was killed while launching.
Each operator keeps what differs: how it checks the prediction's status (EMR asks Sync again about
a prediction that does not say ``SUCCESS``, Databricks refuses it), its retries, and what it keeps
in the task state store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from airflow.sdk.exceptions import AirflowException

from sync_provider.core import contract
from sync_provider.core.errors import SyncError
from sync_provider.hooks.sync import to_airflow_error

if TYPE_CHECKING:
    from sync_provider.core.fingerprint import CodeFingerprint
    from sync_provider.core.models import Prediction, Preference
    from sync_provider.hooks.sync import SyncHook

#: Accepted values of ``on_code_change``.
ON_CODE_CHANGE_VALUES = ("warn", "fail")


def check_on_code_change(value: Any, *, launched: str = "launched") -> str:
    """Return ``on_code_change`` (``"warn"`` or ``"fail"``) after checking it.

    :param launched: the verb for the message (``"launched"``, ``"submitted"``).
    :raises AirflowException: for any other value.
    """
    text = str(value or "").strip().lower()
    if text not in ON_CODE_CHANGE_VALUES:
        raise AirflowException(
            f"on_code_change must be 'warn' or 'fail', not {value!r}: 'warn' logs a warning when the code "
            f"changed since the prediction's basis run, 'fail' fails the task before anything is {launched}."
        )
    return text


def cross_platform_refusal(exc: SyncError, prediction_id: str, task_id: str) -> str:
    """The message of a prediction of the other platform launched without ``allow_cross_platform``."""
    detail = exc.detail if isinstance(exc.detail, Mapping) else {}
    source, target = detail.get("source_platform"), detail.get("target_platform")
    if not source or not target:
        return exc.message
    return (
        f"Prediction {prediction_id} is for {source}, not {target}: set allow_cross_platform=True on "
        f"{task_id} to translate its solution (what cannot be carried over is logged as warnings), or "
        f"use a {target} prediction. Nothing was launched."
    )


def unwrap(response: Any) -> Any:
    """A core ``Response``'s result, or its error as an ``AirflowException``."""
    try:
        return response.unwrap()
    except SyncError as exc:
        raise to_airflow_error(exc) from exc


def validated_id(value: Any, name: str) -> str:
    """Return a templated identifier after rendering, or raise naming the argument."""
    try:
        return contract.validate_id(value, name)
    except SyncError as exc:
        raise to_airflow_error(exc) from exc


def prediction_choice(prediction_id: Any, preference: Any) -> tuple[str, Preference]:
    """Return the checked ``(prediction_id, preference)`` of a task reading a prediction's solution.

    :raises AirflowException: naming the argument: an unknown or empty preference (checked first),
        or an invalid prediction id.
    """
    try:
        parsed = contract.parse_preference(preference)
    except SyncError as exc:
        raise AirflowException(f"preference: {exc.message}") from exc
    if parsed is None:
        raise AirflowException("preference is empty; choose one of: performance, balanced, economy.")
    return validated_id(prediction_id, "prediction_id"), parsed


def successful_prediction(
    hook: SyncHook, prediction: Prediction, prediction_id: str, preference: Preference, *, then: str
) -> Prediction:
    """Return ``prediction`` (as read with ``preference``) once Sync says it is ``SUCCESS``.

    When the prediction as read does not say ``SUCCESS``, its status is asked for (the status call
    also gives a failure's message): a prediction that succeeded since is read again.

    :param then: what the task does with it, for the error (``"before launching from it."``).
    :raises AirflowException: the prediction is not ``SUCCESS`` (yet), naming its status.
    """
    from sync_provider.core.models import PredictionStatus

    status = PredictionStatus.parse(prediction.status) if prediction.status else None
    if status is PredictionStatus.SUCCESS:
        return prediction
    status, message = hook.get_prediction_status(prediction_id)
    if status is not PredictionStatus.SUCCESS:
        detail = f": {message}" if message else ""
        raise AirflowException(
            f"Prediction {prediction_id} is {status.value}, not SUCCESS{detail}. Wait for it with "
            f"SyncPredictionSensor {then}"
        )
    return hook.get_prediction(prediction_id, preference.value)


def task_state_store(context: Any) -> Any:
    """``context["task_state_store"]`` (Airflow 3.3+), or ``None`` where there is none."""
    try:
        return context.get("task_state_store")
    except Exception:
        return None


def try_number(context: Any) -> int:
    """The try number of the task instance in ``context`` (1 where it cannot be read)."""
    ti: Any = context.get("ti") or context.get("task_instance")
    try:
        return int(getattr(ti, "try_number", 1) or 1)
    except (TypeError, ValueError):
        return 1


class LaunchMixin:
    """What the EMR and Databricks launch operators share (mixed in before ``BaseOperator``).

    The operator says what differs in the class attributes below, and implements
    :meth:`_killed_message`; its ``on_kill`` sets ``_killed`` before ending what it launched.
    """

    #: The platform the operator launches on: ``"aws-emr"`` or ``"aws-databricks"``.
    _target_platform: ClassVar[str]
    #: How messages say that something was started: ``"launched"`` or ``"submitted"``.
    _launched: ClassVar[str]
    #: Logged, with the prediction id and the preference, when a prediction of the other platform
    #: is translated.
    _translated_log: ClassVar[str]
    #: Logged, with the fingerprint's hash, when the run has no folder to save its fingerprint in.
    _unsaved_fingerprint_log: ClassVar[str]

    #: Set by ``on_kill``: Airflow lets ``execute`` go on after it (see :meth:`_stop_if_killed`).
    _killed: bool = False

    allow_cross_platform: bool
    on_code_change: str
    if TYPE_CHECKING:
        task_id: str
        log: Any

        def on_kill(self) -> None: ...

    # -- the prediction ----------------------------------------------------------------------------

    def _apply_prediction(
        self,
        prediction: Prediction,
        preference: Preference,
        prediction_id: str,
        base: dict[str, Any],
        *,
        project_id: str,
        project_location: str,
        apply: Callable[[], Any],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The configuration of the prediction's solution, and the solution's predicted metrics.

        A prediction of the other platform is refused unless ``allow_cross_platform``; with it, it
        is translated onto ``base`` and what could not be carried over is logged as warnings. A
        prediction of this platform is applied by ``apply`` (a core function returning a
        ``Response``).
        """
        from sync_provider.core.crossplatform import apply_cross_platform_solution, needs_translation

        try:
            translate = needs_translation(
                prediction,
                preference,
                self._target_platform,
                allow_cross_platform=bool(self.allow_cross_platform),
            )
        except SyncError as exc:
            raise AirflowException(cross_platform_refusal(exc, prediction_id, self.task_id)) from exc
        if translate:
            try:
                translation = apply_cross_platform_solution(
                    prediction,
                    preference,
                    base,
                    target_platform=self._target_platform,
                    project_id=project_id,
                    project_location=project_location,
                )
            except SyncError as exc:
                raise to_airflow_error(exc) from exc
            self.log.info(self._translated_log, prediction_id, preference.value)
            for note in translation.notes:
                self.log.warning("Cross-platform translation: %s", note)
            configuration = translation.result
        else:
            configuration = unwrap(apply())
        metrics = prediction.solution(preference).metrics.model_dump(mode="json")
        return configuration, metrics

    # -- the code fingerprint ----------------------------------------------------------------------

    def _compare_fingerprint(
        self,
        current: CodeFingerprint,
        prediction: Prediction | None,
        on_code_change: str,
        **basis_options: Any,
    ) -> CodeFingerprint:
        """Return ``current`` after comparing it with the prediction's basis run (may raise).

        :param basis_options: ``project_location`` and the clients reading the basis run's
            fingerprint (``s3_client``, ``api``).
        :raises AirflowException: the code changed and ``on_code_change`` is ``"fail"``.
        """
        from sync_provider.core.fingerprint import CodeChangedError, basis_fingerprint, check_code_change

        for problem in current.unreadable:
            self.log.warning("Code fingerprint is partial: %s", problem)
        if prediction is None:
            self.log.info("Code fingerprint %s", current.describe())
            return current
        basis = unwrap(basis_fingerprint(prediction, **basis_options))
        try:
            check_code_change(basis, current, on_code_change=on_code_change, logger=cast("Any", self.log))
        except CodeChangedError as exc:
            raise AirflowException(f"{exc.message} Nothing was {self._launched}.") from exc
        return current

    def _save_fingerprint(self, current: CodeFingerprint, folder: str | None, **clients: Any) -> None:
        """Save ``code-fingerprint.json`` in the run's folder; a failure is a warning (the run goes on).

        :param clients: what writes to the folder (``s3_client``, ``api``).
        """
        from sync_provider.core.fingerprint import save_fingerprint

        if not folder:
            self.log.warning(self._unsaved_fingerprint_log, current.hash)
            return
        response = save_fingerprint(current, folder, **clients)
        if response.error is not None:
            self.log.warning("Could not save the code fingerprint: %s", response.error.message)
        else:
            self.log.info("Code fingerprint %s saved to %s", current.hash, response.unwrap())

    # -- kill ----------------------------------------------------------------------------------------

    def _stop_if_killed(self, launched: Any) -> None:
        """End the try when ``on_kill`` ran while the cluster or run was being launched.

        Airflow's task runner calls ``on_kill`` from its SIGTERM handler and lets ``execute`` go on
        until the SIGKILL that follows: a launch call answered after the kill must not be waited for.
        ``on_kill`` runs again now that ``launched`` (the cluster or run id) is known.

        :raises AirflowException: with :meth:`_killed_message`, after a kill.
        """
        if not self._killed:
            return
        self.on_kill()
        raise AirflowException(self._killed_message(launched))

    def _killed_message(self, launched: Any) -> str:
        """The error of a try killed while launching ``launched``, which ``on_kill`` has ended."""
        raise NotImplementedError


__all__ = [
    "ON_CODE_CHANGE_VALUES",
    "LaunchMixin",
    "check_on_code_change",
    "cross_platform_refusal",
    "prediction_choice",
    "successful_prediction",
    "task_state_store",
    "unwrap",
    "validated_id",
]
