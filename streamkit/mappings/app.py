"""``App``: registers handlers on table streams with Lambda's event-source-mapping options.

Registration only records validated :class:`MappingConfig` values; running them is the
runtime's job. Option errors surface at import time as :class:`ConfigurationError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, Unpack, final

from streamkit.errors import ConfigurationError
from streamkit.mappings.config import (
    OPTION_NAMES,
    Handler,
    MappingConfig,
    StreamOptions,
    check_handler,
    check_name,
    check_options,
    default_name,
    validate_config,
)

__all__ = ["App", "create_mapping", "validate_config"]

H = TypeVar("H", bound=Handler)


@final
class App:
    """A set of stream handlers, registered with ``@app.on_stream(table, ...)``.

    Apps compose: ``app.include(other)`` copies another app's registrations (blueprint-style).
    Mapping names are unique within an app, including across included apps, because
    checkpoints are kept per mapping name.
    """

    def __init__(self) -> None:
        self._mappings: dict[str, MappingConfig] = {}

    @property
    def mappings(self) -> tuple[MappingConfig, ...]:
        """The registered mappings, in registration order."""
        return tuple(self._mappings.values())

    def on_stream(
        self, table: str, *, name: str | None = None, **options: Unpack[StreamOptions]
    ) -> Callable[[H], H]:
        """Register the decorated function as the handler of a mapping on ``table``'s stream.

        The options (:class:`~streamkit.mappings.config.StreamOptions`) are Lambda's
        CreateEventSourceMapping parameters in snake_case, with Lambda's defaults and ranges
        for DynamoDB streams (see docs/handlers.md). They are checked when ``on_stream`` is
        called; the decorator returns the function unchanged.

        Args:
            table: The table whose stream feeds the handler (it need not exist yet).
            name: The mapping's name; defaults to the function's ``__qualname__``.
            options: ``batch_size=``, ``starting_position=``, ``filter_criteria=``, ...

        Raises:
            ConfigurationError: An option is invalid (raised here), or, when the decorator is
                applied, the handler is not callable or the name is already registered.
            TypeError: An option's name is unknown (as for any keyword argument).
        """
        for option in options:
            if option not in OPTION_NAMES:
                raise TypeError(f"App.on_stream() got an unexpected keyword argument {option!r}")
        checked = check_options(table, options)
        if name is not None:
            check_name(name)

        def decorator(handler: H) -> H:
            check_handler(handler)
            mapping_name = name if name is not None else default_name(handler)
            self._register(
                MappingConfig(name=mapping_name, table=table, handler=handler, **checked)
            )
            return handler

        return decorator

    def include(self, other: App) -> None:
        """Add every mapping registered on ``other`` so far, keeping their order.

        Raises:
            ConfigurationError: ``other`` is not an ``App``, or one of its mapping names is
                already registered here (nothing is added then).
        """
        if not isinstance(other, App):
            raise ConfigurationError(f"include() takes an App, not {type(other).__name__}")
        clashes = [n for n in other._mappings if n in self._mappings]
        if clashes:
            raise ConfigurationError(_duplicate_message(clashes[0]))
        self._mappings.update(other._mappings)

    def _register(self, config: MappingConfig) -> None:
        if config.name in self._mappings:
            raise ConfigurationError(_duplicate_message(config.name))
        self._mappings[config.name] = config

    def __repr__(self) -> str:
        return f"App(mappings={list(self._mappings)!r})"


def create_mapping(
    table: str, handler: Handler, *, name: str | None = None, **options: Unpack[StreamOptions]
) -> MappingConfig:
    """Return a validated :class:`MappingConfig` without registering it anywhere.

    Takes the same options as :meth:`App.on_stream` (for built-in mappings and tests).

    Raises:
        ConfigurationError: As :meth:`App.on_stream`; also for an unknown option.
    """
    checked = check_options(table, options)
    check_handler(handler)
    if name is not None:
        check_name(name)
    return MappingConfig(
        name=name if name is not None else default_name(handler),
        table=table,
        handler=handler,
        **checked,
    )


def _duplicate_message(name: str) -> str:
    return (
        f"A mapping named {name!r} is already registered; pass a different name= "
        "(checkpoints are kept per mapping name)"
    )
