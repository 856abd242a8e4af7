"""Email: the desk's :class:`~conduct_desk.service.ports.Mailer` over SMTP (standard library)."""
