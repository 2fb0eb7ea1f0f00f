"""Is the customer calm, upset or rude? One message, read with the customer's earlier messages.

One logistic regression over two kinds of input:
  - the message's sentence embedding (the project's encoder), which carries what the message is about;
  - cues a person would point at (cues.py): insults and swear words from signals/data/sentiment/lexicon.yml
    (also disguised: "f*ck", "sh1t", "бл@ть", "blyat"), CAPS, "!!!", days of waiting, lost money,
    "again", and the same complaint coming back over several turns.
It is trained on the project's own support-domain examples in et, ru and en (signals/data/sentiment),
full of complaint words in routine questions, so that "my internet is not working" stays calm while
"internet down AGAIN, third day!!!" is upset. Thresholds are chosen on the dev split when the model
is fitted (fitting.py); the fitted model is cached in the model folder and refitted whenever the data, the
lexicon or the encoder change. The detector (detector.py) is given the encoder and the model folder by the
process that runs it.
"""
