"""The estimators this project writes itself where no maintained library has them, each with its references
and tested against published values or, for CR3, its definition: REML (`reml`), the clustered Cox sandwich
(`cox`), Rubin's rules (`rubin`), the jackknife CR3 covariance (`clusters`); and the sign of separation
in a logistic fit that the models and the early warning share (`separation`)."""
