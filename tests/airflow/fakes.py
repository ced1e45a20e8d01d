"""What Airflow's task runner hands an operator, without a database: the task state store."""

from __future__ import annotations

import json
from typing import Any


class FakeStateStore:
    """``context["task_state_store"]`` in memory: JSON values per key that survive a new operator
    instance (another try), like Airflow 3.3's."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.values[key] = json.dumps(value)

    def delete(self, key: str) -> None:
        self.values.pop(key, None)
