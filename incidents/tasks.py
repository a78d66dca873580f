"""Celery entry points: thin callers of services, ids in, idempotent."""

from celery import shared_task

from incidents.services.media import MediaTemporarilyUnavailable


@shared_task(autoretry_for=(MediaTemporarilyUnavailable,), retry_backoff=True,
             retry_backoff_max=600, max_retries=5)
def photo_fetch_task(*, photo_id: int) -> str:
    from incidents.services.media import photo_fetch

    return photo_fetch(photo_id=photo_id).state


@shared_task
def photo_fetch_sweep_task() -> int:
    """Queue again the photos still pending after two minutes; bounded to 500 a run."""
    from incidents.services.media import photos_fetch_stale

    ids = photos_fetch_stale()
    for photo_id in ids:
        photo_fetch_task.delay(photo_id=photo_id)
    return len(ids)


@shared_task
def incidents_recluster_task() -> dict:
    from incidents.services.clustering import incidents_recluster

    result = incidents_recluster()
    return {"groups": result.groups, "merged": result.merged}


@shared_task
def incidents_reprioritize_task() -> int:
    from incidents.services.clustering import incidents_reprioritize

    return incidents_reprioritize()


@shared_task(acks_late=True)
def notifications_send_task(*, update_id: int) -> dict:
    from incidents.services.notify import notifications_send_for_update

    return notifications_send_for_update(update_id=update_id)


@shared_task(acks_late=True)
def notification_send_task(*, notification_id: int) -> str:
    from incidents.services.notify import notification_send

    return notification_send(notification_id=notification_id)


@shared_task
def notifications_sweep_task() -> int:
    """Send what is due and still pending: the safety net under the per-change task."""
    from incidents.services.notify import notification_send, notifications_due_ids

    ids = notifications_due_ids()
    for notification_id in ids:
        notification_send(notification_id=notification_id)
    return len(ids)


@shared_task(acks_late=True, autoretry_for=(MediaTemporarilyUnavailable,), retry_backoff=5,
             retry_backoff_max=300, max_retries=8)
def channel_contact_process_task(*, contact_id: int) -> int:
    """A contact's new messages: the dialogue's steps, in order, then its answers."""
    from incidents.channels.process import contact_process

    return contact_process(contact_id=contact_id)


@shared_task
def channel_inbound_sweep_task() -> int:
    """Contacts whose messages wait for more than a minute (a lost task, a broker that was
    down when the webhook stored them) are queued again; bounded to 500 a run."""
    from incidents.channels.process import inbound_stale_contacts

    ids = inbound_stale_contacts()
    for contact_id in ids:
        channel_contact_process_task.delay(contact_id=contact_id)
    return len(ids)


@shared_task
def conversations_expire_task() -> int:
    from incidents.channels.process import conversations_expire_idle

    return conversations_expire_idle()


@shared_task
def surveys_send_due_task() -> int:
    """Satisfaction surveys whose time has come, to the outbox; bounded to 200 a run."""
    from incidents.services.survey import surveys_send_due

    return surveys_send_due()


@shared_task
def surveys_remind_due_task() -> int:
    """One reminder to reporters who have not answered their survey; bounded."""
    from incidents.services.survey import surveys_remind_due

    return surveys_remind_due()


@shared_task
def surveys_expire_task() -> dict:
    from incidents.services.survey import surveys_expire

    return surveys_expire()


@shared_task
def surveys_followup_schedule_task() -> int:
    """Round 2 for reports resolved weeks ago and never confirmed; bounded."""
    from incidents.services.survey import surveys_followup_schedule

    return surveys_followup_schedule()


@shared_task
def email_imap_poll_task() -> int:
    """New mail in the IMAP mailbox, stored like the email webhook's (when RASAD_IMAP_HOST
    is set)."""
    from incidents.channels.imap import imap_poll

    return imap_poll()


@shared_task
def stats_refresh_task() -> dict:
    """The figures of every area, brought up to date (the days that changed)."""
    from incidents.stats.rollup import stats_refresh_all

    return {slug: result.days for slug, result in stats_refresh_all().items()}


@shared_task
def monthly_report_mail_task(*, month: str = "", resend: bool = False) -> dict:
    """On the 1st of a month (the beat runs it then), the previous month's report to every
    manager by mail; given a month ("YYYY-MM"), that month's, whatever the day. Once per
    manager and month unless `resend`."""
    from django.utils import timezone

    from incidents.stats.report import previous_month
    from incidents.stats.report.mail import monthly_report_mail

    if not month:
        today = timezone.localdate()
        if today.day != 1:
            return {"month": "", "sent": 0}
        month = previous_month(today)
    return monthly_report_mail(month=month, resend=resend)


@shared_task
def referral_send_task(*, referral_id: int) -> str:
    """Send one referral to its agency (retries are the sweep's: the row keeps its time)."""
    from incidents.services.referrals import referral_send

    return referral_send(referral_id=referral_id)


@shared_task
def referrals_sweep_task() -> dict:
    """Referrals: send what is due (new, retries, tokens), poll the Open311 agencies for
    answers, chase the late ones."""
    from incidents.services.referrals import (
        agencies_poll,
        referral_send,
        referrals_chase_due,
        referrals_due_ids,
    )

    sent = [referral_send(referral_id=pk) for pk in referrals_due_ids()]
    return {"sent": len(sent), "polled": agencies_poll(), "chased": referrals_chase_due()}


@shared_task
def alerts_immediate_task() -> int:
    """Area alerts of new and resolved incidents to the immediate subscribers."""
    from incidents.services.alerts import alerts_queue_immediate

    return alerts_queue_immediate()


@shared_task
def alerts_digest_task() -> int:
    from incidents.services.alerts import alerts_queue_digests

    return alerts_queue_digests()


@shared_task(acks_late=True)
def notice_fan_out_task(*, notice_id: int) -> int:
    """A notice to its subscribers: one INSERT … SELECT, idempotent (unique dedupe keys)."""
    from incidents.services.alerts import notice_fan_out

    return notice_fan_out(notice_id=notice_id)


@shared_task(acks_late=True)
def notifications_send_batch_task(*, dedupe_prefix: str) -> int:
    """Send a bounded batch of alert/notice rows; queue the next batch while they last."""
    from incidents.services.alerts import SEND_BATCH, notifications_send_batch

    sent = notifications_send_batch(dedupe_prefix=dedupe_prefix)
    if sent >= SEND_BATCH:
        notifications_send_batch_task.delay(dedupe_prefix=dedupe_prefix)
    return sent
