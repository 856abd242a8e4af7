"""Commands, handlers, the message bus and the ports the outer layers implement."""
