"""What every chat platform shares, written once: no SDK is imported here.

A platform package (``platforms/slack``, ``platforms/matrix``…) turns its SDK's events into
the neutral inputs of :mod:`.inputs` and implements :class:`.transport.ChatTransport`;
:class:`.desk.ChatDesk` does the rest — intake, the peer step, admin commands (one table,
:mod:`.commands`), case cards (:mod:`.cards`) and the texts (:mod:`.render`).
:mod:`.memory` is an in-memory transport, for tests.
"""
