"""The message stream: sessions laid out on the daily rhythm, cut into uploads, delivered.

Generation runs in event time; a heap keyed by receive time holds the uploads in flight, so
messages come out in receive order while memory holds only what is still in flight (a few
minutes of traffic, plus the late and retried messages not yet delivered).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from nelo_assets.simulation.catalogue import Catalogue
from nelo_assets.simulation.config import VALID, SimulatedMessage, SimulationConfig
from nelo_assets.simulation.faults import FaultInjector, encode
from nelo_assets.simulation.sessions import AppEvent, SessionBuilder, new_uuid
from nelo_assets.simulation.users import Population
from nelo_assets.simulation.wire import WireWriter

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
# Share of a day's traffic per local hour: quiet nights, a lunch bump, a peak at 19-22 h.
HOURLY_WEIGHTS = (
    *(1.2, 0.7, 0.4, 0.3, 0.3, 0.5),  # 00-05 h
    *(1.2, 2.2, 3.0, 3.3, 3.5, 3.8),  # 06-11 h
    *(4.3, 4.5, 4.2, 4.0, 4.2, 4.8),  # 12-17 h
    *(5.6, 6.5, 7.2, 7.0, 5.4, 3.0),  # 18-23 h
)
MAX_BATCH_EVENTS = 20  # the app's uploader flushes at most this many events at once
FIRST_GUESS_EVENTS_PER_SESSION = 12.0


def _us(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * SECOND_US + delta.microseconds


def _hours(config: SimulationConfig) -> Iterator[tuple[int, int, float]]:
    """(start, end, share of a day's events) for each local hour of the window, clipped."""
    lo, hi = config.window_us
    total = sum(HOURLY_WEIGHTS)
    for offset in range(config.days):
        day = config.start + timedelta(days=offset)
        bounds = [datetime.combine(day, time(hour), config.tz) for hour in range(24)]
        bounds.append(datetime.combine(day + timedelta(days=1), time(0), config.tz))
        for hour in range(24):
            start, end = _us(bounds[hour]), _us(bounds[hour + 1])
            clipped_start, clipped_end = max(start, lo), min(end, hi)
            if clipped_end > clipped_start:
                covered = (clipped_end - clipped_start) / (end - start)
                yield clipped_start, clipped_end, HOURLY_WEIGHTS[hour] / total * covered


def _lateness_us(rng: random.Random) -> int:
    """How long a late upload waited on the device (offline, app in background)."""
    draw = rng.random()
    if draw < 0.6:
        return rng.randint(2 * MINUTE_US, HOUR_US)
    if draw < 0.9:
        return rng.randint(HOUR_US, 12 * HOUR_US)
    return rng.randint(DAY_US, 3 * DAY_US)


class Outbox:
    """Cuts sessions into uploads, applies faults and duplicates, releases them in receive order."""

    def __init__(self, config: SimulationConfig, ids: random.Random) -> None:
        seed = config.seed
        self.config = config
        self.ids = ids
        self.rng = random.Random(f"{seed}:delivery")
        self.fault_rng = random.Random(f"{seed}:faults")
        self.injector = FaultInjector(self.fault_rng)
        self.wire = WireWriter(random.Random(f"{seed}:wire"), config.tz)
        self.fault_codes = config.fault_codes
        self.end_us = config.window_us[1] if config.end is not None else None
        self.heap: list[tuple[int, int, SimulatedMessage]] = []
        self.sequence = 0

    def post(self, events: list[AppEvent]) -> None:
        rng, config = self.rng, self.config
        first = 0
        while first < len(events):
            batch = rng.random() < config.batch_rate
            chunk = events[first : first + (rng.randint(1, MAX_BATCH_EVENTS) if batch else 1)]
            first += len(chunk)
            received = chunk[-1].time_us + rng.randint(SECOND_US // 5, 4 * SECOND_US)
            if rng.random() < config.late_rate:
                received += _lateness_us(rng)
            members = [self.wire.event(event) for event in chunk]
            if self.fault_rng.random() < config.malformed_rate:
                expected = self.fault_rng.choice(self.fault_codes)
                body, per_event = self.injector.build(expected, members, batch, received)
            else:
                expected, body, per_event = VALID, encode(members, batch), (VALID,) * len(members)
            message_id = new_uuid(self.ids)
            self._push(received, message_id, body, expected, per_event, 1)
            if rng.random() < config.duplicate_rate:
                if config.transport == "sqs" or rng.random() < 0.5:
                    # The app got no acknowledgement and sends the same body again.
                    retry_at = received + rng.randint(5 * SECOND_US, 10 * MINUTE_US)
                    self._push(retry_at, new_uuid(self.ids), body, expected, per_event, 1)
                else:
                    # The queue delivers the same message again after its visibility timeout.
                    again_at = received + rng.randint(30 * SECOND_US, 5 * MINUTE_US)
                    self._push(again_at, message_id, body, expected, per_event, 2)

    def _push(
        self,
        received_us: int,
        message_id: str,
        body: bytes,
        expected: str,
        per_event: tuple[str, ...],
        receive_count: int,
    ) -> None:
        message = SimulatedMessage(
            message_id=message_id,
            received_at=EPOCH + timedelta(microseconds=received_us),
            body=body,
            expected=expected,
            expected_events=per_event,
            receive_count=receive_count,
        )
        self.sequence += 1
        heapq.heappush(self.heap, (received_us, self.sequence, message))

    def release(self, before_us: int | None) -> Iterator[SimulatedMessage]:
        """Messages received before `before_us` (all of them for None), in receive order."""
        heap = self.heap
        while heap and (before_us is None or heap[0][0] < before_us):
            received_us, _, message = heapq.heappop(heap)
            if self.end_us is None or received_us <= self.end_us:
                yield message


def generate_messages(config: SimulationConfig) -> Iterator[SimulatedMessage]:
    """The simulated app traffic of `config`, message by message, in receive order."""
    seed, tz = config.seed, config.tz
    catalogue = Catalogue(seed, config.products)
    population = Population(seed, config.user_count)
    traffic = random.Random(f"{seed}:traffic")
    # Event ids belong to the traffic (faults and duplicates leave them alone); message ids to
    # the whole config. Either way two different simulations never share an id.
    traffic_fields = replace(config, duplicate_rate=0, late_rate=0, malformed_rate=0, batch_rate=0)
    sessions = SessionBuilder(catalogue, traffic, random.Random(f"ids:{traffic_fields!r}"), tz)
    outbox = Outbox(config, random.Random(f"message-ids:{config!r}"))
    window_end = config.window_us[1]
    target = produced = 0.0
    sessions_built = 0
    for hour_start, hour_end, share in _hours(config):
        target += config.events_per_day * share
        per_session = (
            produced / sessions_built if sessions_built else FIRST_GUESS_EVENTS_PER_SESSION
        )
        count = max(0, round((target - produced) / per_session))
        for start_us in sorted(traffic.randrange(hour_start, hour_end) for _ in range(count)):
            # Every later message is received after `start_us`: all before it can go out.
            yield from outbox.release(start_us)
            user = population.pick(traffic, start_us)
            if user is None:  # everyone picked is mid-session; the budget carries over
                continue
            events = [e for e in sessions.build(user, start_us) if e.time_us < window_end]
            produced += len(events)
            sessions_built += 1
            outbox.post(events)
    yield from outbox.release(None)
