// The non-centred Eight Schools model with the chapter's default priors
// (hbm.eight_schools.DEFAULT_PRIORS: mu ~ Normal(0, 5), tau ~ HalfCauchy(5)).
data {
  int<lower=1> J;
  vector[J] y;
  vector<lower=0>[J] sigma;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[J] z;
}
transformed parameters {
  vector[J] theta = mu + tau * z;
}
model {
  mu ~ normal(0, 5);
  tau ~ cauchy(0, 5);   // half-Cauchy through the lower bound
  z ~ std_normal();
  y ~ normal(theta, sigma);
}
