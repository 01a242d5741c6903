# syntax=docker/dockerfile:1
# The local AWS emulator: moto 5.2.1 (pinned: the emulator patches its internals) plus
# packages/local-aws/emulator. Build context: the repository root.
FROM python:3.12-slim
RUN pip install --no-cache-dir "moto[server]==5.2.1"
WORKDIR /emulator
COPY packages/local-aws/emulator/ /emulator/
ENV PYTHONPATH=/emulator PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
EXPOSE 5000
CMD ["python3", "-m", "ec2restore_emulator", "--host", "0.0.0.0", "--port", "5000"]
