"""Local stand-ins for AWS, Databricks and the Sync API, for tests, the demo and users' DAG tests."""

#: The AWS credentials the local AWS simulator (moto) is reached with. Moto accepts any; the secret is
#: distinctive so that a secret scan can tell when it shows up where no secret should.
SIMULATOR_ACCESS_KEY_ID = "AKIASIMULATOR0000001"
SIMULATOR_SECRET_ACCESS_KEY = "sim-aws-secret-4Kq8Zr2m"  # noqa: S105 (fake, for moto)
