"""Play a citizen on a messaging channel against a running Rasad (the demo): the webhooks are
signed as the provider signs them, the bot's answers are read back from the demo provider
(fixtures.fake_providers), and each answer is chosen from what the bot offered.

    manage.py channels_play whatsapp   # text → category → answers → pin → photo → confirm
    manage.py channels_play telegram   # the same through Telegram's buttons
    manage.py channels_play inbox      # a message with no place: it lands in the inbox
"""

import re
import time

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fixtures import channel_payloads as p
from fixtures.city import DEMO_POINT

SCENARIOS = ("whatsapp", "telegram", "inbox")
# The demo's secrets (ops/settings/base.py, RASAD_DEMO): used when this shell has none set,
# since the player usually runs beside `make run`, not inside it.
DEMO_SECRETS = {"whatsapp": "demo-whatsapp-secret", "telegram": "demo-telegram-secret"}


def _demo_photo() -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 480), (90, 90, 90))
    ImageDraw.Draw(image).ellipse((200, 160, 440, 320), fill=(30, 30, 30))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


class Player:
    """One citizen: sends a message, waits for the bot's next answer, picks a reply."""

    def __init__(self, *, provider: str, url: str, provider_url: str, sender: str,
                 category: str, out):
        self.provider, self.url, self.provider_url = provider, url.rstrip("/"), provider_url
        self.sender, self.category, self.out = sender, category, out
        self.http = httpx.Client(timeout=10, trust_env=False)
        self.seen = len(self._sent())
        categories = self.http.get(f"{self.url}/api/v1/categories/",
                                   headers={"Accept-Language": "en"}).json()
        self.category_names = {c["code"]: c["name"] for c in categories}

    def _sent(self) -> list[dict]:
        response = self.http.get(f"{self.provider_url}/_fake/sent")
        response.raise_for_status()
        recipient = self.sender if self.provider == "whatsapp" else int(self.sender)
        return [s for s in response.json()
                if s["provider"] == self.provider and s.get("to") == recipient]

    def send(self, payload: dict, shown: str) -> None:
        self.out.write(f"  citizen › {shown}")
        if self.provider == "whatsapp":
            body, headers = p.signed_json(payload, settings.RASAD_WHATSAPP_APP_SECRET or
                                          DEMO_SECRETS["whatsapp"])
        else:
            body, headers = p.telegram_request(payload, settings.RASAD_TELEGRAM_SECRET_TOKEN or
                                               DEMO_SECRETS["telegram"])
        response = self.http.post(f"{self.url}/channels/{self.provider}/webhook", content=body,
                                  headers=headers)
        if response.status_code != 200:
            raise CommandError(f"the webhook answered {response.status_code}: {response.text}")

    def answer(self, timeout_s: float = 30) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            sent = self._sent()
            if len(sent) > self.seen:
                self.seen += 1
                message = sent[self.seen - 1]
                self.out.write(f"  bot     › {_text_of(message)}")
                return message
            time.sleep(0.25)
        raise CommandError("the bot did not answer: are the worker (celery) and the demo "
                           "provider running? (make run starts both)")

    def photo(self) -> str:
        response = self.http.post(f"{self.provider_url}/_fake/media", content=_demo_photo(),
                                  headers={"Content-Type": "image/jpeg"})
        response.raise_for_status()
        return response.json()["id"]


def _text_of(message: dict) -> str:
    body = message["body"]
    if message["provider"] == "whatsapp":
        if body["type"] == "text":
            return body["text"]["body"]
        if body["type"] == "template":
            return f"[template {body['template']['name']}]"
        return body["interactive"]["body"]["text"]
    return body.get("text", "")


_NUMBERED = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)


def _options(message: dict) -> list[tuple[str, str]]:
    """What the bot offers: buttons and list rows (id, title), or numbered lines ("7", title)
    where the channel has no buttons for that many."""
    body = message["body"]
    if message["provider"] == "whatsapp":
        interactive = body.get("interactive") or {}
        action = interactive.get("action") or {}
        if interactive.get("type") == "button":
            return [(b["reply"]["id"], b["reply"]["title"]) for b in action["buttons"]]
        if interactive.get("type") == "list":
            return [(r["id"], r["title"]) for s in action["sections"] for r in s["rows"]]
    else:
        keyboard = (body.get("reply_markup") or {}).get("inline_keyboard") or []
        if keyboard:
            return [(b["callback_data"], b["text"]) for row in keyboard for b in row]
    return [(f"#{n}", title) for n, title in _NUMBERED.findall(_text_of(message))]


def _asks_location(message: dict) -> bool:
    body = message["body"]
    if message["provider"] == "whatsapp":
        return (body.get("interactive") or {}).get("type") == "location_request_message"
    keyboard = (body.get("reply_markup") or {}).get("keyboard") or []
    return any(b.get("request_location") for row in keyboard for b in row)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("scenario", choices=SCENARIOS)
        parser.add_argument("--url", default="http://127.0.0.1:8000",
                            help="The running Rasad.")
        parser.add_argument("--provider-url", default=None,
                            help="The demo provider (default: RASAD_DEMO_PROVIDER_URL).")
        parser.add_argument("--sender", default=None,
                            help="A WhatsApp number (digits) or a Telegram chat id.")
        parser.add_argument("--category", default="pothole")

    def handle(self, *args, **options):
        scenario = options["scenario"]
        provider = "telegram" if scenario == "telegram" else "whatsapp"
        # A new citizen each run (a known one would be answering their last status message).
        sender = options["sender"] or (f"7{int(time.time()) % 10**8:08d}"
                                       if provider == "telegram"
                                       else f"35840{int(time.time()) % 10**7:07d}")
        player = Player(provider=provider, url=options["url"],
                        provider_url=options["provider_url"] or settings.RASAD_DEMO_PROVIDER_URL,
                        sender=sender, category=options["category"], out=self.stdout)
        self.stdout.write(f"{provider} citizen {sender} talks to {options['url']}:")
        if scenario == "inbox":
            self._inbox(player)
        else:
            self._report(player)

    def _say(self, player: Player, text: str) -> None:
        payload = (p.wa_text(player.sender, text) if player.provider == "whatsapp"
                   else p.tg_text(int(player.sender), text))
        player.send(payload, text)

    def _choose(self, player: Player, option: tuple[str, str]) -> None:
        if option[0].startswith("#"):  # a numbered line: the citizen types its number
            self._say(player, option[0][1:])
            return
        payload = (p.wa_button_reply(player.sender, *option) if player.provider == "whatsapp"
                   else p.tg_callback(int(player.sender), option[0]))
        player.send(payload, f"[{option[1]}]")

    @staticmethod
    def _category_option(player: Player, offered: list[tuple[str, str]], code: str):
        """The offered option for a category: by id, or by its name on a numbered line."""
        for option in offered:
            if option[0] == f"cat:{code}" or option[1] == player.category_names.get(code):
                return option
        return None

    def _report(self, player: Player) -> None:
        lon, lat = DEMO_POINT
        self._say(player, "There is a deep hole in the road by the tram stop")
        for _turn in range(12):
            message = player.answer()
            text, offered = _text_of(message), _options(message)
            ids = [o[0] for o in offered]
            if "Tracking code" in text or "tracking code" in text:
                self.stdout.write(self.style.SUCCESS("Filed; it is on the console now."))
                return
            category = self._category_option(player, offered, player.category)
            if category is not None:
                self._choose(player, category)
            elif "lang:en" in ids:
                self._choose(player, offered[ids.index("lang:en")])
            elif ids and ids[0].startswith("ans:"):
                self._choose(player, offered[0])
            elif _asks_location(message) or text.startswith("Where is it?"):
                payload = (p.wa_location(player.sender, lat, lon)
                           if player.provider == "whatsapp"
                           else p.tg_location(int(player.sender), lat, lon))
                player.send(payload, f"📍 {lat:.5f}, {lon:.5f}")
            elif "metoo:no" in ids:
                self._choose(player, offered[ids.index("metoo:no")])
            elif "photo:skip" in ids:
                media_id = player.photo()
                payload = (p.wa_image(player.sender, media_id) if player.provider == "whatsapp"
                           else p.tg_photo(int(player.sender), media_id))
                player.send(payload, "📷 (a photo)")
            elif "confirm:yes" in ids:
                self._choose(player, offered[ids.index("confirm:yes")])
            else:
                raise CommandError(f"unexpected question from the bot: {text}")
        raise CommandError("the conversation did not end with a tracking code")

    def _inbox(self, player: Player) -> None:
        self._say(player, "The bins behind the market have not been emptied for a week")
        for _turn in range(8):
            message = player.answer()
            text, offered = _text_of(message), _options(message)
            ids = [o[0] for o in offered]
            if "Our team will" in text or "our team" in text:
                self.stdout.write(self.style.SUCCESS("In the inbox: /console/inbox/"))
                return
            category = self._category_option(player, offered, "garbage")
            if category is not None:
                self._choose(player, category)
            elif ids and ids[0].startswith("ans:"):
                self._choose(player, offered[0])
            elif _asks_location(message) or text.startswith("Where is it?"):
                self._say(player, "SKIP")
            else:
                raise CommandError(f"unexpected question from the bot: {text}")
        raise CommandError("the message did not reach the inbox")
