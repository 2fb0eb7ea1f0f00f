/* The demo page's "Chat with us" button opens the widget through its small API (docs/webchat.md). */
document.getElementById("open-chat").addEventListener("click", function () {
  if (window.SupportbotWebchat) window.SupportbotWebchat.open();
});
