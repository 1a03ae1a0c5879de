// The connection form: a database that is a file (SQLite) has no host, port,
// user or password, so those fields are hidden while such a type is chosen.
// Which types are files, the server says (data-file-types on the type menu).
(function () {
  "use strict";
  var SERVER_FIELDS = ["host", "port", "username", "password", "clear_password"];

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_db_type");
    if (!select || !select.dataset.fileTypes) { return; }
    var fileTypes = select.dataset.fileTypes.split(" ");
    var update = function () {
      var isFile = fileTypes.indexOf(select.value) !== -1;
      SERVER_FIELDS.forEach(function (name) {
        var field = document.getElementById("field-" + name);
        if (field) { field.hidden = isFile; }
      });
    };
    select.addEventListener("change", update);
    update();
  });
})();
