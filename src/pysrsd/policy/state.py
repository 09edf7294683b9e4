"""``State``: what a lookup reads, immutable (keyring, exclusions, engine, policy, envelope
database), and ``build_state``, the one place a State is made from settings and loaded files.
``runtime.Runtime`` holds the State in use and replaces it on reload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from pysrsd.config.keyring import Keyring
from pysrsd.config.settings import Settings
from pysrsd.policy.envelopes.database import EnvelopeDatabase
from pysrsd.policy.exclusions import Exclusions
from pysrsd.policy.fast import FastPath
from pysrsd.srs.engine import Engine

log = structlog.get_logger("pysrsd.state")


@dataclass(frozen=True, slots=True)
class Policy:
    """What the tables need besides the engine."""

    domain: bytes  # lower case, for comparisons
    always_rewrite: bool
    reverse_any_domain: bool
    original_envelope: str = "embedded"  # embedded | database | auto


@dataclass(frozen=True, slots=True)
class State:
    engine: Engine
    exclusions: Exclusions
    keyring: Keyring
    policy: Policy
    envelopes: EnvelopeDatabase | None = None  # the same one across reloads
    fast: FastPath | None = None  # the common lookups, precomputed (built with the State)


def _on_engine_warning(message: str) -> None:
    log.info("srs_warning", message=message)


def build_state(
    settings: Settings,
    keyring: Keyring,
    exclusions: Exclusions,
    clock: Callable[[], float],
    envelopes: EnvelopeDatabase | None = None,
) -> State:
    domain = settings.domain.encode()
    engine = Engine(
        keyring.secrets,
        domain,
        separator=settings.separator.encode(),
        hash_length=settings.hash_length,
        hash_min=settings.hash_min,
        max_age=settings.max_age,
        hash_input=settings.hash_input,
        hash_alphabet=settings.hash_alphabet,
        accept_concatenated_before=settings.accept_concatenated_before,
        clock=clock,
        on_warning=_on_engine_warning,
    )
    policy = Policy(
        domain.lower(),
        settings.always_rewrite,
        settings.reverse_any_domain,
        settings.original_envelope,
    )
    return State(
        engine, exclusions, keyring, policy, envelopes, fast_path(engine, exclusions, policy)
    )


def fast_path(engine: Engine, exclusions: Exclusions, policy: Policy) -> FastPath:
    """The fast path over this State's engine, exclusions and policy."""
    return FastPath(
        engine.shortcut,
        exclusions,
        domain=policy.domain,
        always_rewrite=policy.always_rewrite,
        reverse_any_domain=policy.reverse_any_domain,
        embedded=policy.original_envelope == "embedded",
    )
