"""End users of embedded chatbots: the org's signing keys and the JWTs they verify."""
