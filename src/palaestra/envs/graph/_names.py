"""A fixed list of 1,500 distinct first names that graph agents are named from.

Common US first names first (most frequent first, alternating male and female), then
names from other English-, German-, Romance-, Nordic-, Dutch-, Indonesian-, Turkish- and
African-language locales, so that small graphs get short, familiar names and large ones
stay distinct. Every name is 3 to 10 ASCII letters, capitalised, unique ignoring case, and
none is a word the message format reserves (``ALL``, ``ANSWER``...). The list was drawn
from the first-name tables of the Faker package (MIT licence) and is frozen here: changing
its order would rename the agents of every recorded episode.
"""

from __future__ import annotations

_TEXT = """
Michael Jennifer David Jessica James Lisa John Kimberly Amanda Robert Michelle Matthew
Elizabeth William Melissa Daniel Ashley Joseph Sarah Brian Mary Jason Stephanie Joshua Amy
Mark Angela Thomas Nicole Kevin Heather Richard Laura Anthony Rebecca Andrew Karen Steven
Kelly Timothy Emily Jeffrey Susan Eric Rachel Ryan Christina Charles Patricia Scott Julie
Justin Samantha Nicholas Megan Jonathan Cynthia Brandon Christine Paul Brittany Kenneth
Lauren Jacob Amber Gregory Andrea Stephen Danielle Patrick Tiffany Adam Maria Aaron
Katherine Benjamin Tammy Kyle Sandra Jeremy Linda Tyler Crystal Zachary Lori Ronald Shannon
Edward Pamela Donald Brenda Sean Donna Jose Sara Alexander Erin Nathan Deborah Gary Victoria
Samuel Tina Keith Jamie Bryan Teresa Douglas Kathleen Shawn Nancy George Dawn Peter Tracy
Todd Courtney Travis Barbara Jesse Jacqueline Chad Sharon Bradley Anna Austin Kayla Larry
Denise Cody April Raymond Catherine Jordan Kristen Craig Erica Dennis Monica Frank Hannah
Juan Kathryn Jerry Cheryl Christian Debra Derek Robin Dustin Wendy Randy Taylor Terry
Margaret Phillip Vanessa Troy Alicia Carlos Allison Jeffery Diana Marcus Natalie Jared
Kristin Joel Leslie Shane Michele Tony Theresa Vincent Holly Corey Alexis Luis Melanie
Antonio Dana Alan Cindy Victor Julia Dylan Jill Philip Alyssa Brett Valerie Rodney Tara
Curtis Stacy Johnny Diane Alex Katie Russell Jasmine Martin Veronica Roger Carol Carl Carrie
Erik Rhonda Derrick Gina Gabriel Stacey Brent Alexandra Nathaniel Chelsea Bruce Kathy Danny
Carolyn Ian Lindsey Ricky Ann Henry Renee Jack Brianna Cory Morgan Cameron Kim Billy
Cassandra Mitchell Janet Wesley Paula Trevor Kelsey Allen Sherry Lawrence Brooke Bobby Tonya
Gerald Kristina Jesus Beth Joe Heidi Randall Sheila Wayne Laurie Jimmy Lindsay Evan Brandy
Jon Tamara Seth Erika Walter Anne Adrian Melinda Caleb Brandi Casey Deanna Marc Abigail
Miguel Tanya Jay Madison Steve Leah Andre Olivia Chris Carla Willie Suzanne Arthur Regina
Manuel Sabrina Debbie Logan Colleen Albert Terri Devin Connie Roy Caitlin Micheal Jenna Jeff
Natasha Darren Felicia Mario Molly Lee Whitney Mike Luke Janice Darrell Marissa Blake Shelby
Louis Brittney Jeremiah Katrina Ricardo Misty Jorge Haley Dale Kara Calvin Lynn Ethan Marie
Garrett Tracey Edwin Alison Glenn Virginia Frederick Annette Barry Meghan Lucas Kaitlyn
Francisco Katelyn Lance Miranda Hunter Christy Isaac Cathy Brad Kendra Connor Anita Chase
Bonnie Dean Shelly Noah Wanda Reginald Martha Oscar Sherri Monique Harold Emma Spencer
Krista Roberto Jodi Ronnie Bethany Angel Krystal Alejandro Sydney Johnathan Yolanda Ralph
Caroline Hector Dakota Joanna Eddie Colin Gloria Eugene Audrey Tommy Paige Maurice Angelica
Judy Ruben Rachael Leonard Kristy Shaun Gabrielle Ernest Destiny Stanley Ruth Brendan Kristi
Marvin Joyce Yvonne Kurt Nichole Howard Desiree Dwayne Beverly Tim Jillian Jonathon Savannah
Julian Kristine Grant Mariah Darryl Alexandria Clayton Becky Tanner Claudia Omar Sierra
Jerome Darlene Isaiah Jane Javier Briana Greg Jenny Melvin Kelli Duane Shelley Dalton Autumn
Mathew Joy Drew Sonya Theodore Sheri Elijah Carmen Tyrone Toni Harry Vicki Kristopher
Breanna Clinton Grace Cole Judith Sergio Traci Jim Rebekah Jake Ana Mason Jaime Dillon
Dominique Fernando Betty Clifford Penny Colton Shirley Tom Evelyn Devon Jean Eduardo Peggy
Bryce Madeline Jermaine Joan Alec Kari Rick Bridget Dominic Jeanette Bill Meredith Geoffrey
Mackenzie Maureen Ellen Xavier Jody Tristan Meagan Collin Joanne Jackson Dorothy Fred Gail
Norman Rita Dan Rose Kirk Cheyenne Edgar Ashlee Ray Vickie Don Bailey Glen Mallory Nicolas
Kaitlin Karl Alexa Maxwell Hailey Ivan Candice Earl Latoya Levi Helen Damon Sylvia Darius
Bianca Andres Adrienne Cristian Ariel Francis Kent Elaine Riley Marilyn Alfred Alice Warren
Sheryl Max Jackie Malik Chloe Wyatt Phyllis Cesar Claire Clarence Kaylee Bernard Candace
Gavin Frances Preston Joann Marco Eileen Hayden Charlene Sophia Brady Sally Parker Charlotte
Pedro Gabriela Gordon Jeanne Dave Michaela Ross Belinda Guy Carly Kerry Kylie Daryl Sandy
Leroy Karina Perry Adriana Lonnie Lorraine Alvin Yvette Gilbert Loretta Vernon Caitlyn Neil
Hayley Stuart Jaclyn Rickey Alisha Franklin Sue Leon Norma Gregg Roberta Bob Jocelyn Darin
Lacey Cassidy Gene Tricia Herbert Shari Terrence Jade Terrance Gabriella Makayla Daisy
Tabitha Faith Aimee Tammie Alejandra Ariana Summer Isabella Mikayla Gwendolyn Raven Melody
Shelia Tami Marcia Ebony Doris Christie Stacie Kiara Karla Glenda Patty Kristie Pam Lydia
Kirsten Chelsey Zoe Tasha Sheena Mandy Shawna Isabel Priscilla Stefanie Cassie Marisa
Mercedes Mckenzie Jasmin Sonia Yesenia Diamond Selena Latasha Cristina Robyn Mia Kerri Mindy
Tracie Angie Kellie Nina Achille Abbas Adrien Abdi Aadi Abyasa Abiye Aada Ada Abdu Abayomi
Adamo Luz Abdul Adele Abel Aarav Ade Acarkan Aila Adela Aijuka Abiodun Adelmo Abdullah Alain
Agnes Aarnav Adhiarja Adal Aili Aksel Adelaida Amri Abiona Aedan Adriano Abraham Alexandre
Agneta Aiden Aarush Adiarja Adila Aino Adelina Andwele Adebiyi Aidan Agnolo Abram Agnieszka
Aayush Adika Adviye Airi Adina Angalia Adebowale Agostino Achim Alphonse Ahmed Adikara Afife
Aleksandra Alf Angavu Adedayo Alberico Aina Ali Abeer Adinata Ahter Allan Agata Anoni
Adedeji Alastair Alberto Adalbert Antoine Aisha Amin Abhimanyu Aditya Akay Alina Aglaia
Asani Adekitan Alderano Paola Alba Amir Abhiram Agus Alisa Anders Agripina Asanti Adekola
Aldo Adelbert Auguste Arie Kelvin Ajiman Akise Aida Athumani Adekunle Alessandro Marcela
Adem Augustin Aron Advaith Ibrahim Ajimat Akmaral Andreas Alberta Azizi Adeleke Alistair
Alessio Adolf Advay Mohamed Ajimin Aksoy Anja Anton Albertina Bahari Adeniyi Alister Alfio
Milena Ayden Advik Ajiono Arne Bale Adeolu Alfredo Ahmad Ayoub Agastya Emmanuel Akarsana
Alabezek Asger Balinda Adeoti Angus Alphons Cecilia Bertrand Bart Akshay Alambana Alaz
August Beshte Aderopo Amadeo Ahmet Alma Bas Among Anneli Alida Bibuwa Adeshina Antoin Amedeo
Carolina Christophe Alva Bastiaan Amol Moses Anggabaya Alize Anni Benny Boma Adesoji Amico
Alban Amalia Beau Anay Anom Almast Anniina Bent Alis Cheusi Adetayo Aodhan Amleto Rosa Ben
Wanjiru Argono Alsoy Annika Bertil Chuki Adeyi Arran Angelo Liliana Denis Amelia Anirudh
Aris Annikki Bertram Dai Adigun Simon Arron Annibale Elena Albin Amelie Berat Anmol Arta
Annukka Birger Daudi Afolarin Ansaldo Albrecht Amina Berend Ansh Artanto Anu Bjarne Duma
Ajala Antonello Amira Bilal Artawan Amre Arja Dunia Ajani Bailie Antonino Aleksandar Bjorn
Arin Arsipatra Aulikki Anabela Akanmu Fernanda Aleksander Boaz Arjun Asirwada Anka Aune
Anaida Ekundu Akinkunmi Armando Marina Aleksandr Anette Boris Aryan Asirwanda Aral Aurora
Boe Anamaria Eliakimu Akinlabi Arnaldo Aleksej Atharv Otieno Aslijan Armahan Birgitta
Anastasia Enzi Akinwale Benn Arnulfo Lorena Franck Bram Avi Asmadi Arziye Carita Borris Anca
Evance Alade Arsenio Angelika Ayaan Evans Asman Fahari Alamu Blaine Arturo Angelina Ayush
Collins Asmianto Asiman Eeva Bruno Anda Fanaka Atenulf Leidy Georges Ayushman Kennedy Asmuni
Asliye Eija Andra Faraja Ayinde Augusto Daniela Alexandros Cas Azaan Mwangi Aswani Asu Eila
Andrada Hadithi Ayodeji Azeglio Olga Alexei Casper Azad Atma Atanur Eliisa Andreea Hamis
Ayodele Baccio Esther Alexej Gilles Bachittar Atmaja Atiyye Elina Carlo Anemona Harambee
Babasola Breandan Baldassare Tatiana Bahadurjit Bagas Elisa Carsten Aneta Hekima Babatunji
Bartolomeo Johana Alfons Guillaume Bakhshi Erick Bagiya Ayasun Elisabet Isaya Babawale
Benedetto Alfonso Cornelis Balendra Felix Bagus Aybet Elisabeth Anghelina Issack Damife Liam
Benito Beatriz Daan Balhaar Bagya Ella Anica Ituri Demilade Benvenuto Lina Henri Damian
Baljiwan Bahuraksa Aydar Jalia Durodola Cahal Beppe Dani Balvan Bahuwarna Ayduru Elli Claus
Antoaneta Jangwa Ekundayo Cahir Bernardo Alois Hugues Balveer Bahuwirya Elsa Clavs Antonela
Jelani Esupofo Cailum Biagio Luisa Aloys Banjeet Amos Bajragin Ayhan Emilia Curt Antonia Jua
Folu Cal Esperanza Alwin Jacques Bakda Aykut Jumaane Gbadebo Graham Calcedonio Yaneth
Brijesh Hassan Bakiadi Aylil Emmi Ariadna Justiniani Gbolahan Callan Calogero Blanca
Anastasios Julius Bakianto Aynilhayat Kaombwe Gbowoade Callum Camillo Amparo Anatol Dex
Chaitanya Benson Bakidin Essi Arina Kashangaki Ibidapo Calum Anatoli Jules Dion Chakradev
Benard Bakijan Aysema Esteri Kenyangi Ige Carmelo Anatolij Julien Dirk Chakradhar Fredrick
Bakiman Aysevim Eveliina Ebbe Artemisa Khamani Ikeoluwa Cesare Margarita Laurent Duuk
Champak Bakiono Aysuna Hanna Einar Astrid Khamisi Inioluwa Lewis Caoimhin Cipriano Chanakya
Bakti Ayten Hannele Einer Atena Kiapo Iseoluwa Nigel Caolain Cirillo Stella Andree Dylano
Chandran Samwel Baktiadi Elias Augustina Kiburi Ishola Oliver Caolan Ciro Andrei Luc
Chandresh Baktianto Ayyaruk Helena Emil Aura Kijana Juwon Caomhan Claudio Andrej Annelie
Emir Charan Baktiono Heli Aurelia Kijani Keji Coluccio Viviana Faas Odhiambo Bala Aureliana
Kimbilio Kolawole Carter Coriolano Natalia Marcel Annica Fabian Chatresh Maina Balamantri
Hellevi Erling Aurica Kinubi Korede Cathal Corrado Andrey Annie Fedde Chatura Balangga Helmi
Ernst Kipenzi Leke Costantino Eugenia Andrzej Matthieu Ochieng Balapati Azade Helvi Esben
Axenia Kiume Lere Charlie Costanzo Valentina Finn Daksh Antony Balidin Azize Henna Beatrice
Kondo Niyilolawa Che Damiano Andy Michel Florian Dakshesh Juma Balijan Hilkka Flemming
Betina Konradi Oba Daniele Asta Floris Dalbir Bambang Hillevi Kovu Terence Danilo Anselm
Gerrit Banara Ida Frans Blanduzia Kurunzi Ogooluwa Dante Camila Ansgar Olivier Giel Darpan
Samson Banawa Iida Freddy Bogdana Kusiima Oke Dario Ante Gijs Darsh Shadrack Banawi Bahtinur
Iiris Frede Makini Oladare Delfino Barbro Giovanni Bancar Balca Ilona Frederik Camelia
Makunga Oladimeji Malcolm Cianan Dino Anto Philippe Beata Guus Dev Budi Inkeri Frode Carina
Makuu Olakunle Ciaran Dionigi Nelly Pierre Hamza Devansh Wilson Cagak Irene Georg Matunda
Olanrewaju Cillian Domenico Bella Hendrik Dhruv Cager Basriye Irja Mavuno Olansile Clark
Donatello Gladys Berit Hidde Hussein Cahyadi Irma Gert Carmina Mohamedi Donato Antonios Hugo
Ekalinga Omondi Cahyanto Bediriye Irmeli Gorm Mulele Oluwafemi Durante Flor Antonius Ekansh
Kamau Cahya Begim Jaana Gunnar Casandra Mwezi Edoardo Nubia Apostolos Birgit Ekapad Onyango
Cahyo Behiza Gunner Casiana Ngamia Colm Elladio Johanna Aribert Imran Ekaraj Cahyono
Belgizar Gustav Caterina Ngeni Colum Elmo Arif Roland Bodil Ekavir Bonface Caket Belkize
Jenni Hans Catinca Ntimi Oluwasanmi Gareth
"""

FIRST_NAMES: tuple[str, ...] = tuple(_TEXT.split())
"""The names, in the order agents take them (a graph of n agents uses the first n)."""
