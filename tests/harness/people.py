"""Who and where, as the example policy names them: reps, a manager, a marketer, the channels."""

REP1, REP2, MANAGER, MARKETER = "U0000REP1", "U0000REP2", "U0000MGR1", "U0000MKT1"
CHANNEL = "C0000SALES"
MARKETING = "C0000MKTG"  # the marketing feedback channel
