"""The messages as composed (`transforms/mail.py`) and the mail settings as checked: tables of
literal examples, one behaviour each. No server here: `test_mail.py` sends them."""

from __future__ import annotations

from datetime import datetime

import pytest

from bibia.settings import Settings
from schemas.errors import ConfigError
from transforms.mail import (
    Hold,
    News,
    Problem,
    Publication,
    address_of,
    digest,
    email_of,
    held,
    message_id,
    published,
)

AT = datetime(2026, 3, 2, 9, 30)
SIRET = Problem(
    "Identifiant SIRET de la collectivité",
    "20001070000020",
    "SIRET invalide : la clé de contrôle ne correspond pas (faute de frappe ?)",
)
MISSING = Problem("Projet", None, "champ obligatoire non renseigné")
LINK = "https://tally.so/r/bibiaD?ref=S1&coll_nom=Caux+Seine+Agglo"
HOLD = Hold(
    "S1", AT, "Caux Seine Agglo", "Tri du courrier", "courrier@cauxseine.fr", LINK, (SIRET,)
)
PUBLICATION = Publication(
    "p-1",
    "Sicoval",
    "Fuites d'eau",
    "eau@sicoval.fr",
    "https://tally.so/r/bibiaD?ref=S2",
    "https://bibliotheque.exemple.fr/projets/p-1.html",
)


@pytest.mark.parametrize(
    ("typed", "address"),
    [
        ("courrier@cauxseine.fr", "courrier@cauxseine.fr"),
        ("  Assainissement.IA@Rennesmetropole.fr ", "Assainissement.IA@Rennesmetropole.fr"),
        ("service numérique, poste 4521", None),
        ("a@b", None),
        ("deux@a.fr, trois@b.fr", None),
        ("élodie@mairie.fr", None),  # not every relay takes it: the curators reach her
        ("", None),
        (None, None),
    ],
)
def test_a_contributor_is_written_to_only_at_an_address_that_holds(typed, address):
    assert address_of(typed) == address


@pytest.mark.parametrize(
    ("hold", "said"),
    [
        (HOLD, "Identifiant SIRET de la collectivité : SIRET invalide"),  # the field, as asked
        (HOLD, "(saisi : « 20001070000020 »)"),  # what was typed, kept
        (HOLD, LINK),  # the correction link
        (HOLD, "le 02/03/2026"),  # when it was sent
        (HOLD, "Merci d'avoir décrit le projet « Tri du courrier » (Caux Seine Agglo)"),
        (
            Hold("S3", AT, "Angers", None, "a@angers.fr", LINK, (MISSING,)),
            "Merci d'avoir décrit votre projet (Angers)",  # no name: no empty quotes
        ),
        (
            Hold("S4", AT, "Angers", "Urbanisme", "a@angers.fr", None, (MISSING,)),
            "répondez à ce message",  # no link: the curators
        ),
    ],
)
def test_a_held_message_says_what_to_fix_and_how(hold, said):
    letter = held(hold)
    assert letter is not None and said in letter.text


def test_a_held_message_goes_to_its_own_contributor_only_about_its_own_submission():
    letter = held(HOLD)
    assert letter is not None
    assert (letter.key, letter.kind, letter.recipient) == (
        "retenue:S1",
        "retenue",
        "courrier@cauxseine.fr",
    )
    assert held(Hold("S5", AT, "X", "Y", "poste 4521", LINK, (SIRET,))) is None


def test_a_reminder_is_a_message_of_its_own_that_says_it_still_waits():
    letter = held(HOLD, reminder=True)
    assert letter is not None
    assert letter.key == "rappel:S1" and letter.subject.startswith("Rappel :")
    assert "attend toujours une correction" in letter.text and LINK in letter.text


@pytest.mark.parametrize(
    "said",
    [
        "https://bibliotheque.exemple.fr/projets/p-1.html",
        "https://tally.so/r/bibiaD?ref=S2",
        "Le projet « Fuites d'eau » (Sicoval) est publié",
    ],
)
def test_a_published_message_gives_the_page_and_the_link_to_update_it(said):
    letter = published(PUBLICATION)
    assert letter is not None and said in letter.text and letter.key == "publie:p-1"


def test_html_parts_escape_what_a_contributor_typed():
    hold = Hold("S6", AT, "<b>Ville</b>", 'Projet "<script>"', "a@b.fr", LINK, (SIRET,))
    letter = held(hold)
    assert letter is not None
    assert "<script>" not in letter.html and "&lt;script&gt;" in letter.html
    assert f'href="{LINK.replace("&", "&amp;")}"' in letter.html


def test_no_news_no_digest_and_news_in_one_message():
    assert digest(News("r1"), "c@exemple.fr") is None
    unreachable = Hold("S7", AT, "Angers", "Urbanisme", "poste 12", LINK, (MISSING,))
    news = News(
        "r1",
        holds=(HOLD, unreachable),
        behind=(("site", "git push : refusé"),),
        requests=(("agent@ville.fr", "Ana Martin", "21350238800019"),),
    )
    letter = digest(news, "c@exemple.fr")
    assert letter is not None and letter.key == "curateurs:r1"
    for said in (
        "2 soumission(s) nouvellement retenue(s)",
        "S1 Caux Seine Agglo — Tri du courrier",
        "S7 Angers — Urbanisme (Projet : champ obligatoire non renseigné) ; pas d'adresse "
        "valable : à joindre autrement",
        "site : git push : refusé",
        "agent@ville.fr (Ana Martin, SIRET 21350238800019)",
    ):
        assert said in letter.text, said


def test_a_failed_run_is_a_message_of_its_own():
    letter = digest(News("r2", failure="Tally a répondu 401"), "c@exemple.fr")
    assert letter is not None
    assert letter.key == "curateurs:r2:echec" and "Tally a répondu 401" in letter.text


def test_the_email_carries_what_mail_programs_need():
    letter = held(HOLD)
    assert letter is not None
    sender, curators = "Bibliothèque <b@exemple.fr>", "Curateurs <c@exemple.fr>"
    mid = message_id(letter.key, sender)
    assert mid == message_id(letter.key, sender)  # the same at every attempt
    assert mid.endswith("@exemple.fr>")
    message = email_of(letter, sender, curators, mid, AT)
    raw = bytes(message).decode()
    assert message["Reply-To"] == curators and message["Message-ID"] == mid
    assert message["Auto-Submitted"] == "auto-generated"
    assert "List-Unsubscribe: <mailto:c@exemple.fr?subject=" in raw  # plain, not encoded
    assert {part.get_content_type() for part in message.iter_parts()} == {
        "text/plain",
        "text/html",
    }


def test_a_line_break_in_a_name_does_not_make_a_header():
    hold = Hold("S8", AT, "X", "Nom\r\nBcc: tous@exemple.fr", "a@b.fr", LINK, (SIRET,))
    letter = held(hold)
    assert letter is not None
    message = email_of(letter, "b@exemple.fr", "c@exemple.fr", "<1@exemple.fr>", AT)
    assert message["Bcc"] is None
    assert "\nBcc:" not in bytes(message).decode()


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"BIBIA_MAIL": "on"}, "BIBIA_MAIL_FROM, BIBIA_CURATORS_EMAIL, BIBIA_SITE_URL, "),
        ({"BIBIA_MAIL": "log"}, "BIBIA_MAIL_FROM, BIBIA_CURATORS_EMAIL, BIBIA_SITE_URL :"),
        ({"BIBIA_SMTP_TLS": "none", "BIBIA_SMTP_HOST": "smtp.exemple.fr"}, "serveur local"),
        ({"BIBIA_SMTP_USER": "bibia"}, "BIBIA_SMTP_USER et BIBIA_SMTP_PASSWORD vont ensemble"),
        ({"BIBIA_SMTP_CA_FILE": "/nulle/part.pem"}, "BIBIA_SMTP_CA_FILE : fichier introuvable"),
    ],
)
def test_mail_settings_are_checked_before_a_run(env, said):
    complete = {
        "BIBIA_MAIL": "on",
        "BIBIA_MAIL_FROM": "b@exemple.fr",
        "BIBIA_CURATORS_EMAIL": "c@exemple.fr",
        "BIBIA_SITE_URL": "https://exemple.fr",
        "BIBIA_SMTP_HOST": "smtp.exemple.fr",
    }
    variables = {**complete, **env}
    if env.get("BIBIA_MAIL"):  # only what the case gives
        variables = env
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(variables).require_mail()
    assert said in str(caught.value)


@pytest.mark.parametrize(
    ("name", "raw", "said"),
    [
        ("BIBIA_MAIL", "oui", "BIBIA_MAIL prend off ou log ou on"),
        ("BIBIA_MAIL_FROM", "bibia", "BIBIA_MAIL_FROM prend une adresse électronique"),
        ("BIBIA_CURATORS_EMAIL", "a@b.fr, nobody", "BIBIA_CURATORS_EMAIL prend une adresse"),
        ("BIBIA_SMTP_TLS", "ssl", "BIBIA_SMTP_TLS prend starttls ou tls ou none"),
    ],
)
def test_a_mail_setting_that_does_not_hold_is_one_line(name, raw, said):
    with pytest.raises(ConfigError, match=said):
        Settings.from_env({name: raw})


def test_the_smtp_password_is_never_in_a_repr():
    settings = Settings.from_env({"BIBIA_SMTP_PASSWORD": "secret-du-relais"})
    assert "secret-du-relais" not in repr(settings)


def test_a_digest_over_a_whole_register_stays_a_message():
    holds = tuple(
        Hold(f"S{i}", AT, "Ville", f"Projet {i}", "a@b.fr", LINK, (SIRET,)) for i in range(120)
    )
    letter = digest(News("r3", holds=holds), "c@exemple.fr")
    assert letter is not None
    assert "120 soumission(s) nouvellement retenue(s)" in letter.text
    assert "S49 Ville — Projet 49" in letter.text and "S50 Ville" not in letter.text
    assert "… et 70 autre(s) : `bibia status --held all`" in letter.text
