"""What every model in analytics/ shares: hyperparameters, learned state and plain-JSON form.

The shape follows scikit-learn's estimator rules: ``__init__`` only stores its keyword
arguments under the same names (the hyperparameters); ``fit`` learns state into attributes
whose names end in ``_``; nothing is learned before ``fit``. A model is saved as a plain
JSON-compatible dict -- its class name, its hyperparameters and its learned state, with numpy
arrays as nested lists -- and never pickled, so an artifact can be read, diffed and trusted.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

__all__ = ["Model", "NotFittedError", "as_matrix", "decode_value", "encode_value"]

_ARRAY_KEY = "__ndarray__"
_FLOAT_KEY = "__float__"


class NotFittedError(ValueError):
    """A model was used before ``fit`` (or before enough data to learn anything)."""


def encode_value(value: object) -> object:
    """One learned value as plain JSON data (arrays as nested lists, NaN/inf spelled out).

    Args:
        value: a number, string, bool, None, numpy array or scalar, or a list/tuple/dict
            of those.

    Returns:
        A JSON-compatible value that :func:`decode_value` turns back into ``value``.

    Raises:
        TypeError: a value of another type.
    """
    if isinstance(value, np.ndarray):
        return {_ARRAY_KEY: [encode_value(v) for v in value.tolist()], "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return encode_value(value.item())
    if isinstance(value, float):
        # strict JSON has no NaN or infinity
        return value if math.isfinite(value) else {_FLOAT_KEY: repr(value)}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): encode_value(v) for k, v in value.items()}
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def decode_value(data: object) -> Any:
    """The inverse of :func:`encode_value`."""
    if isinstance(data, Mapping):
        if _ARRAY_KEY in data:
            return np.asarray(
                decode_value(data[_ARRAY_KEY]), dtype=str(data.get("dtype", "float64"))
            )
        if _FLOAT_KEY in data:
            return float(str(data[_FLOAT_KEY]))
        return {str(k): decode_value(v) for k, v in data.items()}
    if isinstance(data, list):
        return [decode_value(v) for v in data]
    return data


def as_matrix(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Samples as a 2-D float array: one row per time step, one column per series.

    Args:
        values: a 1-D array (one series) or a 2-D array (samples x series).

    Returns:
        A 2-D float64 array.

    Raises:
        ValueError: more than two dimensions.
    """
    array = np.asarray(values, dtype=float)
    if array.ndim == 0:
        return array.reshape(1, 1)
    if array.ndim == 1:
        return array.reshape(-1, 1)
    if array.ndim == 2:
        return array
    raise ValueError(f"expected a 1-D or 2-D array, got {array.ndim} dimensions")


class Model:
    """Base of the analytics models: hyperparameters, learned state, JSON round trip.

    Subclasses list the learned attributes they save in ``_STATE`` (each ending in ``_``);
    hyperparameters are read from ``__init__``'s signature.
    """

    _STATE: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _param_names(cls) -> tuple[str, ...]:
        signature = inspect.signature(cls.__init__)
        # a model without hyperparameters inherits object.__init__(*args, **kwargs): none
        return tuple(
            name
            for name, parameter in signature.parameters.items()
            if name != "self"
            and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        )

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters, as given to ``__init__``."""
        return {name: getattr(self, name) for name in self._param_names()}

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` has run (every learned attribute exists)."""
        return all(hasattr(self, name) for name in self._STATE)

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit() first")

    def _encode_state(self, name: str, value: object) -> object:
        """One learned attribute as JSON data (subclasses with nested models override)."""
        return encode_value(value)

    @classmethod
    def _decode_state(cls, name: str, data: object) -> object:
        """The inverse of :meth:`_encode_state`."""
        return decode_value(data)

    def to_dict(self) -> dict[str, object]:
        """The model as plain JSON-compatible data: class, hyperparameters, learned state."""
        state = {
            name: self._encode_state(name, getattr(self, name))
            for name in self._STATE
            if hasattr(self, name)
        }
        return {
            "model": type(self).__name__,
            "params": {k: encode_value(v) for k, v in self.get_params().items()},
            "state": state,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Self:
        """Rebuild a model saved with :meth:`to_dict`.

        Args:
            data: the saved form.

        Returns:
            The model, fitted if it was fitted when saved.

        Raises:
            ValueError: the data is for another model class.
            TypeError: the data is malformed.
        """
        if data.get("model") != cls.__name__:
            raise ValueError(f"expected a saved {cls.__name__}, got {data.get('model')!r}")
        params = data.get("params", {})
        state = data.get("state", {})
        if not isinstance(params, Mapping) or not isinstance(state, Mapping):
            raise TypeError("malformed model data: 'params' and 'state' must be objects")
        model = cls(**{str(k): decode_value(v) for k, v in params.items()})
        for name, value in state.items():
            if name not in cls._STATE:
                raise ValueError(f"{cls.__name__} has no learned attribute {name!r}")
            setattr(model, name, cls._decode_state(str(name), value))
        return model

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
